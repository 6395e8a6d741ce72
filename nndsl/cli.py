"""The command line: `nndsl check | fmt | ...`.  The only module that prints.

Exit codes: 0 success (and `--help`, `--version`), 1 errors in the input or wrong usage (an
unknown verb or flag, a missing or bad argument: a message with a hint was printed).
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nndsl import __version__
from nndsl.errors import Diagnostic, display_path, render, summary_line

if TYPE_CHECKING:
    import argparse

    from nndsl.cliparse import Parser as _Parser

DESCRIPTION = """\
nndsl: define neural networks in compact .nn specs, with every tensor shape checked before
anything runs, then generate readable PyTorch or train the spec directly.
"""

EPILOG = """\
verbs:
  check FILE...          parse and check specs; print diagnostics (exit 0 clean, 1 errors)
  summary FILE           per layer: state_dict name, type, output shape, parameters
  generate FILE [-o DIR] write readable PyTorch: DIR/model.py (and DIR/train.py)
  run FILE               train the spec now, from its train section (no files generated)
  evaluate FILE --checkpoint CKPT   a checkpoint's loss and metrics on held-out data
  export FILE --checkpoint CKPT --format F -o OUT   TorchScript, ONNX or pt2, verified
  predict FILE --checkpoint CKPT INPUT...   classes or values of CSV, npz or image samples
  fmt FILE... [--check]  rewrite specs in canonical format (--check: only report)
  graph FILE -o OUT      draw a model: OUT.svg, OUT.html or OUT.dot (Graphviz text)
  lsp                    run the language server (stdio) for editors

Run `nndsl VERB --help` for the options of a verb.
"""


def _verb_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {name: action.choices[name] for name in action.choices}
    return {}


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [o for a in parser._actions for o in a.option_strings if o.startswith("--")]


def usage_hint(parser: _Parser, message: str) -> str | None:
    """`did you mean ...?` for an unknown verb, flag or choice of a usage error, else None."""
    import difflib

    def nearest(word: str, choices: Sequence[str]) -> str | None:
        close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
        return close[0] if close else None

    choice = re.search(r"invalid choice: '((?:[^']|'(?! \())*)' \(choose from (.*)\)$", message)
    if choice:
        options = re.findall(r"'([^']*)'", choice.group(2))
        guess = nearest(choice.group(1), options)
        return f"did you mean `{guess}`?" if guess else None
    unknown = re.match(r"unrecognized arguments: (.*)$", message)
    if unknown:
        # argparse reports them on the top parser: the verb's parser knows the flags
        verbs = _verb_parsers(parser)
        verb = next((a for a in parser.argv if a in verbs), None)
        flags = _flags(verbs[verb] if verb else parser)
        for word in unknown.group(1).split():
            if word.startswith("-"):
                guess = nearest(word.split("=", 1)[0], flags)
                if guess:
                    return f"did you mean `{guess}`?"
                where = f"`nndsl {verb}`" if verb else "`nndsl`"
                return f"{where} takes: {', '.join(flags)}"
        if verb is None and verbs:
            return f"the first argument names a verb: {', '.join(verbs)}"
        return None
    value = re.match(r"argument (\S+?)(?:/\S+)?: invalid (int|float) value: ", message)
    if value:
        flag = value.group(1).split("/")[0]
        number = "a whole number" if value.group(2) == "int" else "a number"
        return f"`{flag}` takes {number}"
    if "the following arguments are required" in message:
        return "the usage line above shows them"
    if message.endswith(("the path is empty", "the name is empty")):
        return "was a variable of the command line empty?"
    return None


def _path(text: str) -> str:
    """A path given on the command line: never empty (`''`, an unset shell variable, would
    otherwise name the working folder, or be taken as no flag at all)."""
    if not text:
        import argparse

        raise argparse.ArgumentTypeError("the path is empty")
    return text


def _name(text: str) -> str:
    """A model's or a train section's name given on the command line: never empty."""
    if not text:
        import argparse

        raise argparse.ArgumentTypeError("the name is empty")
    return text


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from nndsl.cliparse import LazySubParsers
    from nndsl.cliparse import Parser as _Parser

    p = _Parser(
        prog="nndsl",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"nndsl {__version__}")
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour diagnostics: auto (only on a terminal), always, never",
    )
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser, action=LazySubParsers)

    c = sub.add_parser(
        "check",
        help="check specs for errors",
        description="Parse and check each spec (and the files it imports): syntax, names, shapes. "
        "Prints every diagnostic; exit 0 when there is no error, 1 otherwise.",
    )
    c.add_argument("files", nargs="+", metavar="FILE")
    _no_imports_flag(c)
    c.set_defaults(func=cmd_check)

    s = sub.add_parser(
        "summary",
        help="show every layer's shape and parameters",
        description="Check a spec, then print for each model one row per layer: its qualified name "
        "(the state_dict key prefix), type, output shape and parameter count, nested blocks indented, "
        "then the totals and the parameter memory.",
    )
    s.add_argument("file", metavar="FILE")
    s.add_argument(
        "--model",
        metavar="M",
        type=_name,
        help="only this model (default: every model of the file)",
    )
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _no_imports_flag(s)
    s.set_defaults(func=cmd_summary)

    g = sub.add_parser(
        "generate",
        help="write readable PyTorch source",
        description="Check a spec, then write DIR/model.py (one nn.Module class per block and model) and, "
        "when the spec has a train section, DIR/train.py (a standalone training script). Files that nndsl did "
        "not generate are never overwritten unless --force is given.",
    )
    g.add_argument("file", metavar="FILE")
    g.add_argument(
        "-o", "--out", metavar="DIR", type=_path, default="out", help="output folder (default: out)"
    )
    g.add_argument(
        "--model",
        metavar="M",
        type=_name,
        help="only this model (default: every model of the file)",
    )
    g.add_argument("--stdout", action="store_true", help="print model.py instead of writing files")
    g.add_argument(
        "--force",
        action="store_true",
        help="overwrite files that nndsl did not generate, or generated files you changed "
        "(never the spec's own files or data)",
    )
    g.add_argument(
        "--target",
        choices=("pytorch", "lightning"),
        default="pytorch",
        help="pytorch: a plain training loop (default); lightning: a LightningModule "
        "(lit_model.py) and a Trainer script",
    )
    _no_imports_flag(g)
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser(
        "run",
        help="train a spec directly",
        description="Check a spec and train its model as its train section says, with a progress bar on a "
        "terminal (a line per epoch otherwise). The run folder (default runs/<spec>-<time>/) receives the "
        "resolved configuration, metrics.csv, checkpoints (last.pt, best.pt) and curves.png. "
        "Works under torchrun: `torchrun --nproc_per_node 2 -m nndsl run spec.nn`.",
    )
    r.add_argument("file", metavar="FILE")
    r.add_argument(
        "--train", metavar="NAME", type=_name, help="which train section (default: the first)"
    )
    r.add_argument("--epochs", type=int, metavar="N", help="override the number of epochs")
    r.add_argument("--batch-size", type=int, metavar="N", help="override the batch size")
    r.add_argument("--lr", type=float, metavar="LR", help="override the learning rate")
    r.add_argument("--seed", type=int, metavar="N", help="override the seed")
    r.add_argument("--device", metavar="D", help="auto, cpu, cuda or mps")
    r.add_argument("--out", metavar="DIR", type=_path, help="run folder")
    r.add_argument("--resume", metavar="PATH", type=_path, help="continue from a checkpoint")
    r.add_argument(
        "--init-from",
        "--resume-weights",
        dest="resume_weights",
        metavar="PATH",
        type=_path,
        help="start a new run from a checkpoint's weights, with a fresh optimizer (epoch 1)",
    )
    r.add_argument(
        "--force", action="store_true", help="train into a run folder that holds another run"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    ev = sub.add_parser(
        "evaluate",
        help="a checkpoint's loss and metrics on held-out data",
        description="Load a checkpoint of a train section into the spec's model and print the "
        "section's loss and metrics on a held-out split of its data, prepared exactly as "
        "training prepared it (same source, seed, splits, normalisation), and a confusion "
        "matrix for classification.",
    )
    ev.add_argument("file", metavar="FILE")
    ev.add_argument(
        "--checkpoint", metavar="CKPT", type=_path, required=True, help="last.pt or best.pt"
    )
    ev.add_argument(
        "--split", choices=("test", "val"), help="default: test when the data has one, else val"
    )
    ev.add_argument(
        "--train", metavar="NAME", type=_name, help="which train section (default: the first)"
    )
    ev.add_argument(
        "--data",
        metavar="SOURCE",
        help='another data source, as in the train section: \'csv("new.csv", target="y")\' '
        "(standardised with the training's statistics; all its samples unless --split)",
    )
    ev.set_defaults(func=cmd_evaluate)

    ex = sub.add_parser(
        "export",
        help="export a checkpoint's model (TorchScript, ONNX, pt2)",
        description="Load a checkpoint into the spec's model and export it: torchscript "
        "(torch.jit.trace), onnx (with a dynamic batch size; needs the `onnx` extra) or pt2 "
        "(torch.export). The written file is loaded back and run on a random batch; its "
        "outputs must equal the PyTorch model's (rtol=1e-4, atol=1e-5), else nothing is written.",
    )
    ex.add_argument("file", metavar="FILE")
    ex.add_argument(
        "--checkpoint", metavar="CKPT", type=_path, required=True, help="last.pt or best.pt"
    )
    ex.add_argument("--format", choices=("torchscript", "onnx", "pt2"), required=True)
    ex.add_argument(
        "-o", "--out", metavar="FILE", type=_path, required=True, help="the file to write"
    )
    ex.add_argument(
        "--model", metavar="M", type=_name, help="which model (default: the checkpoint's)"
    )
    ex.set_defaults(func=cmd_export)

    pr = sub.add_parser(
        "predict",
        help="predict the samples of CSV or npz files, or of images",
        description="Load a checkpoint into the spec's model, preprocess INPUT as training did "
        "(its normalisation statistics: from config.json next to the checkpoint, else from "
        "the train section's data) and write one CSV row per sample: the class name and its "
        "probability for classification (--top K: the K likeliest), the values for regression. "
        "INPUT: .npz files (array `x`, or their only array), .csv files of the input columns, "
        "or image files and folders of images (resized and converted as training's images; "
        "each row then starts with the file).",
    )
    pr.add_argument("file", metavar="FILE")
    pr.add_argument("input", metavar="INPUT", type=_path, nargs="+")
    pr.add_argument(
        "--checkpoint", metavar="CKPT", type=_path, required=True, help="last.pt or best.pt"
    )
    pr.add_argument(
        "-o", "--out", metavar="FILE", type=_path, help="write the CSV here (default: stdout)"
    )
    pr.add_argument("--top", type=int, default=1, metavar="K", help="the K likeliest classes")
    pr.add_argument(
        "--train", metavar="NAME", type=_name, help="which train section (default: the first)"
    )
    pr.set_defaults(func=cmd_predict)

    f = sub.add_parser(
        "fmt",
        help="format specs canonically",
        description="Rewrite each spec in canonical format, in place. Comments are kept and the meaning "
        "is unchanged; formatting twice changes nothing. With --check, write nothing and exit 1 if a "
        "file would change.",
    )
    f.add_argument("files", nargs="+", metavar="FILE")
    f.add_argument("--check", action="store_true", help="only report files that are not formatted")
    f.set_defaults(func=cmd_fmt)

    gr = sub.add_parser(
        "graph",
        help="draw a model as SVG, HTML or DOT",
        description="Check a spec, then draw one model: a box per layer, function or operator with "
        "its output shape and parameters, arrows for the data flow (residual adds and skip "
        "connections included), block calls and labelled groups as framed clusters. The output "
        "format follows the suffix of -o: .svg (laid out by nndsl itself, no Graphviz needed), "
        ".html (the SVG in a page with a menu to open or close blocks) or .dot (Graphviz text).",
    )
    gr.add_argument("file", metavar="FILE")
    gr.add_argument(
        "-o",
        "--out",
        metavar="OUT",
        type=_path,
        required=True,
        help="the file to write: .svg, .html or .dot",
    )
    gr.add_argument(
        "--model", metavar="M", type=_name, help="which model (needed when the file has several)"
    )
    gr.add_argument(
        "--depth",
        type=int,
        metavar="N",
        help="open blocks and groups only N levels deep; deeper ones are single boxes "
        "(0: every block call of the model is one box; default: everything open)",
    )
    _no_imports_flag(gr)
    gr.set_defaults(func=cmd_graph)

    ls = sub.add_parser(
        "lsp",
        help="run the language server (stdio)",
        description="Serve the Language Server Protocol on stdin/stdout for editors: diagnostics, "
        "shapes on hover, go to definition, completion, symbols, formatting. Needs the `lsp` "
        "extra (pygls). The Python modules a spec names are imported only when the editor says "
        "the workspace is trusted (initialization option `trusted`).",
    )
    _no_imports_flag(ls)
    ls.set_defaults(func=cmd_lsp)
    return p


def cmd_lsp(args, out) -> int:
    from nndsl.lsp import main as serve

    return serve(no_imports=args.no_imports)


def _no_imports_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-imports",
        action="store_true",
        help="never import the Python modules the spec names (`from pkg import Name`): safe for "
        "specs you do not trust; what those modules output is then not checked "
        "(also: NNDSL_NO_IMPORTS=1)",
    )


def _imports(args) -> bool | None:
    """False with --no-imports; otherwise None (the environment decides)."""
    return False if getattr(args, "no_imports", False) else None


def main(argv: Sequence[str] | None = None) -> int:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    collecting = argv is None and gc.isenabled()
    if collecting:
        # the `nndsl` process: no cyclic garbage collection while its modules are imported
        # (they make tens of thousands of objects that live until the exit, and the collector
        # would go over them again and again), and none for a check (as check_file), which
        # ends the process at once (_exit_now); the other verbs run with it as usual
        gc.disable()
    args = plain_check(sys.argv[1:] if argv is None else argv)
    if args is None:
        parser = build_parser()
        parser.argv = list(sys.argv[1:] if argv is None else argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version (0), or a usage error (1, printed)
            return exc.code if isinstance(exc.code, int) else 1
    if collecting and args.verb not in ("check", "summary"):
        gc.enable()
    if args.verb is None:
        parser.print_help(sys.stderr)
        print("nndsl: error: no verb given\n  = hint: e.g. `nndsl check spec.nn`", file=sys.stderr)
        return 1
    out = Output(args.color)
    try:
        code = args.func(args, out)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    if argv is None and args.verb in ("check", "summary"):
        _exit_now(code)
    return code


def plain_check(words: Sequence[str]):
    """The arguments of `nndsl check FILE...` written without a flag, as argparse would give
    them, read without argparse (whose import, with `gettext` and `locale`, and parsers cost a
    tenth of such a check); None for any other command line, which argparse reads.
    tests/test_cli_usage.py compares the two."""
    if len(words) < 2 or words[0] != "check" or any(w.startswith("-") for w in words[1:]):
        return None
    from types import SimpleNamespace

    return SimpleNamespace(
        color="auto", verb="check", files=list(words[1:]), no_imports=False, func=cmd_check
    )


def _exit_now(code: int) -> None:
    """End the `nndsl` process of a command that writes nothing, without the interpreter's
    clean-up: freeing the checked spec's objects and every module one by one costs about as much
    CPU as starting Python.  Output is flushed first.  Not after importing torch (or a spec's
    Python modules, which import it): their exit handlers run as usual."""
    if "torch" in sys.modules:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # (the usual exit reports it)
    os._exit(code)


class Output:
    def __init__(self, color: str):
        self.color = color == "always" or (
            color == "auto" and sys.stderr.isatty() and "NO_COLOR" not in os.environ
        )

    def diagnostics(self, diags: Sequence[Diagnostic], sources: dict[str, str]) -> None:
        for d in diags:
            print(render(d, sources, color=self.color), file=sys.stderr)
            print(file=sys.stderr)


def cmd_check(args, out: Output) -> int:
    from nndsl.check import check_file

    failed = False
    for path in args.files:
        checked = check_file(path, imports=_imports(args))
        out.diagnostics(checked.diagnostics, checked.program.sources)
        if checked.ok:
            tail = f" ({summary_line(checked.diagnostics)})" if checked.diagnostics else ""
            print(f"{display_path(path)}: ok{tail}")
        else:
            failed = True
            print(f"{display_path(path)}: {summary_line(checked.diagnostics)}", file=sys.stderr)
    return 1 if failed else 0


def cmd_summary(args, out: Output) -> int:
    import json

    from nndsl.check import check_file
    from nndsl.check.summary import render_table, summarize

    checked = check_file(args.file, imports=_imports(args))
    out.diagnostics(checked.diagnostics, checked.program.sources)
    if not checked.ok:
        print(f"{display_path(args.file)}: {summary_line(checked.diagnostics)}", file=sys.stderr)
        return 1
    names = _select_models(checked, args.model, args.file)
    if names is None:
        return 1
    summaries = []
    for name in names:
        inst = checked.models[name]
        span = inst.decl.name_span
        summary = summarize(inst, f"{display_path(span.file)}:{span.line}")
        for section, plan in checked.plans.items():
            if plan.model == name and plan.freeze:  # the first section that freezes it
                summary.freeze(inst, plan.freeze, section)
                break
        summaries.append(summary)
    if args.json:
        print(json.dumps([s.as_json() for s in summaries], indent=2))
    elif not summaries:
        print(f"{display_path(args.file)}: no models (blocks only)")
    else:
        print("\n\n".join(render_table(s) for s in summaries))
    return 0


def _select_models(checked, model: str | None, path: str) -> list[str] | None:
    """The models a verb works on: `--model M`, else every model of the file; None (after an
    error message) when M is not one of them."""
    models = [m for m, inst in checked.models.items() if inst is not None]
    if not checked.program.run_python:
        for m, inst in checked.models.items():
            if inst is None and model in (None, m):
                print(
                    f"nndsl: note: model `{m}` is left out: it uses a Python module that "
                    "--no-imports does not import, so its shapes are unknown",
                    file=sys.stderr,
                )
    if model is None:
        return models
    if model in models:
        return [model]
    from nndsl.catalog.api import suggest

    close = suggest(model, models)
    hint = f"; did you mean `{close[0]}`?" if close else f" (models: {', '.join(models) or 'none'})"
    print(f"nndsl: error: no model `{model}` in {display_path(path)}{hint}", file=sys.stderr)
    return None


def _no_model(checked, path: str, verb: str) -> Diagnostic:
    """The error of a spec without a model to `verb` ("generate", "draw"), located: at a model
    that --no-imports left out, else at the spec's first block (written only as part of the
    models that use it), else at the end of the file."""
    from nndsl.errors import Span, error

    message = f"{display_path(path)} has no model to {verb}"
    root = checked.program.root
    decls = checked.program.files[root].decls if root in checked.program.files else ()
    blocks = [d for d in decls if getattr(d, "kind", None) in ("model", "block")]
    left_out = [d for d in blocks if d.kind == "model" and checked.models.get(d.name) is None]
    if left_out:
        hint = "without --no-imports its Python modules are imported and its shapes checked"
        return error(message, left_out[0].name_span, hint=hint)
    if blocks:
        first = blocks[0]
        hint = (
            f"a block is written only as part of the models that use it: declare a "
            f"`model` (with its `input`) that calls `{first.name}`"
        )
        return error(message, first.name_span, hint=hint)
    lines = checked.program.sources.get(root, "").split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()  # the end of the text, not its trailing blank lines
    end = Span(root, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)
    return error(message, end, hint="declare a `model` with its `input` and layers")


def cmd_graph(args, out: Output) -> int:
    from nndsl.check import check_file
    from nndsl.graph import FORMATS, render
    from nndsl.safeio import refuse_special, write_atomic

    suffix = os.path.splitext(args.out)[1].lower()
    if suffix not in FORMATS:
        bare = os.path.basename(args.out).lower() in FORMATS  # `-o $name.svg`, $name unset
        print(
            f"nndsl: error: cannot tell the format of {args.out}: its name must end in "
            ".svg, .html or .dot"
            + (
                "\n  = hint: it has no name before the suffix (was a variable empty?)"
                if bare
                else ""
            ),
            file=sys.stderr,
        )
        return 1
    if args.depth is not None and args.depth < 0:
        print("nndsl: error: --depth must be 0 or more", file=sys.stderr)
        return 1
    try:
        refuse_special(args.out)  # (before the work)
    except OSError as exc:
        print(
            f"nndsl: error: cannot write {display_path(args.out)}: {exc.strerror}", file=sys.stderr
        )
        return 1
    checked = check_file(args.file, imports=_imports(args))
    out.diagnostics(checked.diagnostics, checked.program.sources)
    if not checked.ok:
        print(f"{display_path(args.file)}: {summary_line(checked.diagnostics)}", file=sys.stderr)
        return 1
    names = _select_models(checked, args.model, args.file)
    if names is None:
        return 1
    if not names:
        out.diagnostics([_no_model(checked, args.file, "draw")], checked.program.sources)
        return 1
    if len(names) > 1:
        print(
            f"nndsl: error: {display_path(args.file)} has {len(names)} models "
            f"({', '.join(names)}); choose one with --model",
            file=sys.stderr,
        )
        return 1
    text = render(checked.models[names[0]], suffix, args.depth)
    try:
        write_atomic(args.out, text)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"nndsl: error: cannot write {display_path(args.out)}: {reason}", file=sys.stderr)
        return 1
    print(f"wrote {display_path(args.out)}")
    return 0


def cmd_generate(args, out: Output) -> int:
    from nndsl.check import check_file
    from nndsl.codegen import GenerateError, generate_files
    from nndsl.codegen.output import Refused, write_generated

    checked = check_file(args.file, imports=_imports(args))
    out.diagnostics(checked.diagnostics, checked.program.sources)
    if not checked.ok:
        print(f"{display_path(args.file)}: {summary_line(checked.diagnostics)}", file=sys.stderr)
        return 1
    models = _select_models(checked, args.model, args.file)
    if models is None:
        return 1
    if not models:
        out.diagnostics([_no_model(checked, args.file, "generate")], checked.program.sources)
        return 1
    try:
        files = generate_files(
            checked, models, target=getattr(args, "target", "pytorch"), out_dir=args.out
        )
    except GenerateError as exc:
        from nndsl.api import generate_failure

        located = [d for d in generate_failure(exc, checked).diagnostics if d.span is not None]
        if located:  # a data source's problem, at its place in the spec
            out.diagnostics(located, checked.program.sources)
            return 1
        print(
            f"nndsl: error: cannot generate PyTorch for {display_path(args.file)}: {exc}",
            file=sys.stderr,
        )
        return 1
    misfits = _data_misfits(checked, files)
    if misfits:
        out.diagnostics(misfits, checked.program.sources)
        return 1
    if args.stdout:
        sys.stdout.write(files["model.py"])  # type: ignore[arg-type]
        return 0
    try:
        written = write_generated(checked, args.out, files, force=args.force)
    except Refused as exc:
        for line in str(exc).splitlines():
            print(f"nndsl: error: {line}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"nndsl: error: cannot write to {display_path(args.out)}: {reason}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {display_path(str(path))}")
    return 0


def _data_misfits(checked, files) -> list[Diagnostic]:
    """Errors, at each train section's `data`, for prepared data whose samples do not fit the
    model (as `run` refuses them): the generated script would fail at its first batch."""
    from nndsl.api import data_mismatch
    from nndsl.codegen.trainplan import data_file, script_name
    from nndsl.data.errors import data_span
    from nndsl.errors import error

    found = []
    for section, plan in checked.plans.items():
        data = files.get(data_file(script_name(section)))
        if isinstance(data, bytes) and plan.data is not None:
            problem = data_mismatch(checked, plan, data)
            if problem is not None:
                found.append(error(problem, data_span(checked, plan), hint=problem.hint))
    return found


def cmd_run(args, out: Output) -> int:
    import math

    from nndsl.check import check_file
    from nndsl.safeio import unreadable

    for flag in ("epochs", "batch_size"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            print(f"nndsl: error: --{flag.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 1
    if args.lr is not None and not (0 < args.lr < math.inf):  # nan fails both
        print("nndsl: error: --lr must be a positive number", file=sys.stderr)
        return 1
    from nndsl.catalog.ranges import SEED_MAX

    if args.seed is not None and not 0 <= args.seed <= SEED_MAX:
        print("nndsl: error: --seed must be between 0 and 2**32 - 1", file=sys.stderr)
        return 1
    if args.device is not None and not re.fullmatch(r"auto|(cpu|cuda|mps)(:\d+)?", args.device):
        print(
            f"nndsl: error: unknown device {args.device!r}: use auto, cpu, cuda, cuda:N or mps",
            file=sys.stderr,
        )
        return 1
    why = None if args.resume is None else unreadable(args.resume, "checkpoint")
    if why:
        print(f"nndsl: error: {why}", file=sys.stderr)
        return 1
    checked = check_file(args.file)
    out.diagnostics(checked.diagnostics, checked.program.sources)
    if not checked.ok:
        print(f"{display_path(args.file)}: {summary_line(checked.diagnostics)}", file=sys.stderr)
        return 1
    from nndsl.api import Program
    from nndsl.errors import NndslError

    program = Program(checked)
    created: list = []  # what preparing the run adds (removed when it fails before a result)
    try:
        module, data_path, out_dir = program.prepare_run(
            args.train,
            args.out,
            replace=args.force or args.resume is not None,
            init=args.resume is None and args.resume_weights is None,
            created=created,
            device=args.device,
        )
    except NndslError as exc:
        located = [d for d in exc.diagnostics if d.span is not None]
        out.diagnostics(located, checked.program.sources)
        for d in exc.diagnostics:
            if d.span is None:
                print(f"nndsl: error: {d.message}", file=sys.stderr)
        return 1
    argv = ["--data", str(data_path), "--out", str(out_dir)]
    for flag, value in (
        ("--epochs", args.epochs),
        ("--device", args.device),
        ("--resume", args.resume),
        ("--resume-weights", args.resume_weights),
        ("--batch-size", args.batch_size),
        ("--lr", args.lr),
        ("--seed", args.seed),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.quiet:
        argv.append("--quiet")
    if args.force:
        argv.append("--force")
    from nndsl.api import discard_run_data, discard_unstarted_run

    if os.environ.get("RANK", "0") == "0":
        print(f"training {display_path(args.file)} in {out_dir}", flush=True)
    utils = program.modules()["training_utils"]
    results = utils.results_in(out_dir)
    try:
        module.train(argv)
    except module.TrainingError as exc:
        print(f"nndsl: error: {exc}", file=sys.stderr)
        # a run that failed before any result (no such device, an unreadable image in
        # the first epoch) leaves no folder or file behind, and the earlier run's as it was
        discard_unstarted_run(utils, out_dir, results, created)
        return 1
    except KeyboardInterrupt:
        discard_unstarted_run(utils, out_dir, results, created)
        return 130
    finally:
        discard_run_data(data_path, out_dir)
    return 0


def _program(args, out: Output):
    """The checked spec as a Program, or None after printing its diagnostics."""
    from nndsl.api import Program
    from nndsl.check import check_file

    checked = check_file(args.file)
    out.diagnostics(checked.diagnostics, checked.program.sources)
    if not checked.ok:
        print(f"{display_path(args.file)}: {summary_line(checked.diagnostics)}", file=sys.stderr)
        return None
    return Program(checked)


def _overwrites_an_input(args, inputs: Sequence[str]) -> bool:
    """True (after saying so) when `-o` names the spec, the checkpoint or an input file."""
    for path in inputs:
        try:
            same = os.path.exists(args.out) and os.path.samefile(args.out, path)
        except (OSError, ValueError):
            same = False
        if same:
            print(
                f"nndsl: error: -o {display_path(args.out)} would overwrite the input "
                f"{display_path(path)}; choose another output file",
                file=sys.stderr,
            )
            return True
    return False


def cmd_export(args, out: Output) -> int:
    if _overwrites_an_input(args, [args.file, args.checkpoint]):
        return 1
    done = _with_checkpoint(
        args, out, lambda p: p.export(args.checkpoint, args.out, args.format, model=args.model)
    )
    if done is None:
        return 1
    print(
        f"wrote {display_path(args.out)} ({args.format}, model {done['model']}); verified on a "
        f"random batch of {done['batch']}: largest difference {done['max_abs_diff']:.3g} "
        f"(rtol={done['rtol']}, atol={done['atol']})"
    )
    return 0


def cmd_evaluate(args, out: Output) -> int:
    result = _with_checkpoint(
        args,
        out,
        lambda p: p.evaluate(args.checkpoint, split=args.split, section=args.train, data=args.data),
    )
    if result is None:
        return 1
    print(f"{result['split']} split: {result['samples']} samples")
    for key, value in result["metrics"].items():
        print(f"  {key:<20} {value:.4f}")
    if result["confusion"] is not None:
        print(confusion_table(result["confusion"], result["class_names"]))
    return 0


def cmd_predict(args, out: Output) -> int:
    from nndsl.after import write_predictions

    if args.out is not None and _overwrites_an_input(
        args, [args.file, args.checkpoint, *args.input]
    ):
        return 1
    # the rows are written a batch at a time (to a temporary file first: nothing is written
    # when an input cannot be read), so a large input is never held in memory
    count = _with_checkpoint(
        args,
        out,
        lambda p: write_predictions(
            p, args.checkpoint, args.input, args.out, top=args.top, section=args.train
        ),
    )
    if count is None:
        return 1
    if args.out is not None:
        print(f"wrote {display_path(args.out)} ({count} rows)")
    return 0


def _with_checkpoint(args, out: Output, call):
    """The result of `call(program)` for a verb that uses a trained checkpoint, or None after
    printing why not (no checkpoint there, a spec with errors, or the API's NndslError)."""
    from nndsl.errors import NndslError
    from nndsl.safeio import unreadable

    why = unreadable(args.checkpoint, "checkpoint")
    if why:
        print(f"nndsl: error: {why}", file=sys.stderr)
        return None
    program = _program(args, out)
    if program is None:
        return None
    try:
        return call(program)
    except NndslError as exc:
        located = [d for d in exc.diagnostics if d.span is not None]
        out.diagnostics(located, exc.sources or program.checked.program.sources)
        for d in exc.diagnostics:
            if d.span is None:
                print(f"nndsl: error: {d.message}", file=sys.stderr)
        return None


def confusion_table(matrix: list[list[int]], names: list[str] | None) -> str:
    """Rows: the true class; columns: the predicted class."""
    labels = [str(n) for n in names] if names and len(names) == len(matrix) else None
    labels = labels or [str(i) for i in range(len(matrix))]
    width = max(len(str(v)) for row in matrix for v in row)
    width = max(width, *(len(lab) for lab in labels))
    head = max(len(lab) for lab in labels)
    lines = ["confusion matrix (rows: true class, columns: predicted class)"]
    lines.append(" " * (head + 2) + " ".join(lab.rjust(width) for lab in labels))
    for lab, row in zip(labels, matrix):
        lines.append(f"{lab.rjust(head)}  " + " ".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def cmd_fmt(args, out: Output) -> int:
    from nndsl.syntax import parse
    from nndsl.syntax.fmt import format_source
    from nndsl.syntax.loader import lossy_text, read_text

    failed = False
    changed = []
    for path in args.files:
        text, problem = read_text(path)
        if problem is not None:
            quoted = lossy_text(path) if problem.span is not None else None
            out.diagnostics([problem], {path: quoted} if quoted is not None else {})
            failed = True
            continue
        source, diags = parse(text, path)
        if source is None:
            out.diagnostics(diags, {path: text})
            failed = True
            continue
        new = format_source(source, text)
        if new == text:
            continue
        changed.append(path)
        if args.check:
            print(f"would reformat {display_path(path)}")
            continue
        from nndsl.safeio import write_through

        try:
            write_through(path, new)  # through a symlink to its file; mode kept
        except OSError as exc:
            print(
                f"nndsl: error: cannot rewrite {display_path(path)}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            failed = True
            continue
        print(f"reformatted {display_path(path)}")
    if not changed and not failed:
        n = len(args.files)
        print(f"{n} file{'s' if n != 1 else ''} already formatted")
    return 1 if failed or (args.check and changed) else 0
