"""`nndsl lsp` end to end: a real client talks JSON-RPC to `python -m nndsl lsp` over stdio."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygls", reason="the `lsp` extra (pygls) is not installed")

from nndsl.syntax import parse  # noqa: E402
from nndsl.syntax.fmt import format_source  # noqa: E402

TWO_ERRORS = """\
model M {
    input x: [B, 4]
    h = x -> Linaer(8) -> relu
    h -> Linear(2) + missing
}
"""


class Client:
    """A minimal LSP client: Content-Length framed JSON-RPC over the server's stdin/stdout."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nndsl", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env={**os.environ, **(env or {})},
        )
        self.messages: queue.Queue = queue.Queue()
        self.pending: list[dict] = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            self.messages.put(json.loads(out.read(length)))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def _next(self, deadline: float) -> dict:
        try:
            msg = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("no message from the server in time") from None
        if "method" in msg and "id" in msg:  # a request of the server's: answer it
            self.send({"id": msg["id"], "result": None})
        return msg

    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next(deadline)
            if msg.get("id") == rid and "method" not in msg:
                assert "error" not in msg, msg
                return msg["result"]
            self.pending.append(msg)

    def notification(self, method: str, pred=lambda p: True, timeout: float = 30) -> dict:
        for i, msg in enumerate(self.pending):
            if msg.get("method") == method and pred(msg["params"]):
                return self.pending.pop(i)["params"]
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next(deadline)
            if msg.get("method") == method and pred(msg["params"]):
                return msg["params"]
            self.pending.append(msg)

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def client(tmp_path: Path):
    c = Client(tmp_path)
    result = c.request(
        "initialize",
        {
            "processId": None,
            "rootUri": tmp_path.as_uri(),
            "capabilities": {},
            "initializationOptions": {"trusted": False},
        },
    )
    assert result["capabilities"]["hoverProvider"]
    c.notify("initialized", {})
    yield c
    c.close()


def open_doc(client: Client, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "nndsl", "version": version, "text": text}},
    )
    return uri


def diagnostics(client: Client, uri: str, version: int) -> list[dict]:
    params = client.notification(
        "textDocument/publishDiagnostics",
        lambda p: p["uri"] == uri and p.get("version") == version,
    )
    return params["diagnostics"]


def test_diagnostics_on_open_and_change(client: Client, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "two.nn", TWO_ERRORS)
    diags = diagnostics(client, uri, 1)
    got = sorted(
        (
            d["range"]["start"]["line"],
            d["range"]["start"]["character"],
            d["range"]["end"]["line"],
            d["range"]["end"]["character"],
            d["severity"],
        )
        for d in diags
    )
    # 0-based: `Linaer` at 3:14-3:20, `missing` at 4:22-4:29 (1-based columns)
    assert got == [(2, 13, 2, 19, 1), (3, 21, 3, 28, 1)]
    messages = {d["message"].splitlines()[0] for d in diags}
    assert messages == {"unknown layer or block `Linaer`", "undefined name `missing`"}
    assert any("hint: did you mean `Linear`?" in d["message"] for d in diags)

    fixed = TWO_ERRORS.replace("Linaer", "Linear")
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]},
    )
    diags = diagnostics(client, uri, 2)
    assert [d["message"].splitlines()[0] for d in diags] == ["undefined name `missing`"]
    assert diags[0]["range"]["start"] == {"line": 3, "character": 21}


def test_related_locations(client: Client, tmp_path: Path) -> None:
    text = "model M {\n    input x: [B, 4]\n    flatten -> Conv2d(8, 3)\n}\n"
    uri = open_doc(client, tmp_path / "m.nn", text)
    (d,) = diagnostics(client, uri, 1)
    assert d["range"]["start"] == {"line": 2, "character": 15}
    assert d["message"].startswith("Conv2d needs")
    related = d["relatedInformation"]
    assert related and related[0]["location"]["uri"] == uri
    assert related[0]["location"]["range"]["start"] == {"line": 2, "character": 4}


def test_hover_shows_shapes_params_and_torch_call(client: Client, tmp_path: Path) -> None:
    text = (
        "model Net {\n    input x: [B, 1, 8, 8]\n"
        "    h = x -> Conv2d(16, 3, padding=1) -> relu\n    h -> flatten -> Linear(10)\n}\n"
    )
    uri = open_doc(client, tmp_path / "net.nn", text)
    assert diagnostics(client, uri, 1) == []
    hover = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 15}},
    )
    value = hover["contents"]["value"]
    assert "**Conv2d**" in value and "`[B, 1, 8, 8]` → `[B, 16, 8, 8]`" in value
    assert "160 parameters" in value and "float32" in value
    assert "nn.Conv2d(1, 16, 3, padding=1)" in value
    assert hover["range"]["start"] == {"line": 2, "character": 13}
    # a value: its shape where it is used
    hover = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 4}},
    )
    assert hover["contents"]["value"] == "`h`: `[B, 16, 8, 8]`"


def test_definition_across_an_imported_file(client: Client, tmp_path: Path) -> None:
    (tmp_path / "blocks.nn").write_text(
        "# shared blocks\n\nblock Tower(width: int) {\n    Linear(width) -> relu\n}\n"
    )
    text = 'import "blocks.nn"\n\nmodel M {\n    input x: [B, 4]\n    x -> Tower(8)\n}\n'
    uri = open_doc(client, tmp_path / "main.nn", text)
    assert diagnostics(client, uri, 1) == []
    loc = client.request(
        "textDocument/definition",
        {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 10}},
    )
    assert loc["uri"] == (tmp_path / "blocks.nn").as_uri()
    assert loc["range"]["start"] == {"line": 2, "character": 6}
    loc = client.request(
        "textDocument/definition",
        {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 10}},
    )
    assert loc["uri"] == (tmp_path / "blocks.nn").as_uri()


def test_completion_of_keyword_arguments_and_names(client: Client, tmp_path: Path) -> None:
    text = "model M {\n    input x: [B, 3, 8, 8]\n    x -> Conv2d(16, 3, \n}\n"
    uri = open_doc(client, tmp_path / "c.nn", text)
    result = client.request(
        "textDocument/completion",
        {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 23}},
    )
    labels = {i["label"] for i in result["items"]}
    assert {"padding=", "stride=", "dilation=", "groups=", "bias=", "padding_mode="} <= labels
    assert "in_channels=" not in labels  # inferred from the input
    text2 = "train {\n    data = \n}\n"
    uri2 = open_doc(client, tmp_path / "t.nn", text2)
    result = client.request(
        "textDocument/completion",
        {"textDocument": {"uri": uri2}, "position": {"line": 1, "character": 11}},
    )
    assert {"digits", "csv", "npz"} <= {i["label"] for i in result["items"]}


def test_document_symbols_and_formatting(client: Client, tmp_path: Path) -> None:
    text = "model M{input x:[B,4]\n  Linear(3)->relu   # out\n}\ntrain {\nmodel=M\n}\n"
    uri = open_doc(client, tmp_path / "f.nn", text)
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert [(s["name"], s["kind"]) for s in symbols] == [("M", 5), ("train", 3)]
    assert [c["name"] for c in symbols[1]["children"]] == ["model"]
    edits = client.request(
        "textDocument/formatting",
        {"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": True}},
    )
    source, _ = parse(text, "f.nn")
    assert len(edits) == 1 and edits[0]["newText"] == format_source(source, text)
    assert edits[0]["range"]["start"] == {"line": 0, "character": 0}


def test_user_modules_are_not_imported_unless_trusted(tmp_path: Path) -> None:
    pkg = tmp_path / "evil"
    pkg.mkdir()
    marker = tmp_path / "ran"
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    text = "from evil import Thing\n\nmodel M {\n    input x: [B, 4]\n    x -> Thing()\n}\n"
    for trusted, env, ran in ((False, {}, False), (True, {"NNDSL_NO_IMPORTS": "1"}, False)):
        c = Client(tmp_path, env={"PYTHONPATH": str(tmp_path), **env})
        try:
            c.request(
                "initialize",
                {
                    "processId": None,
                    "capabilities": {},
                    "initializationOptions": {"trusted": trusted},
                },
            )
            c.notify("initialized", {})
            uri = open_doc(c, tmp_path / "u.nn", text)
            diags = diagnostics(c, uri, 1)
            assert any(d["severity"] == 2 for d in diags)  # a warning: outputs not checked
            assert marker.exists() is ran
        finally:
            c.close()


WIDE = """\
from torch import nn


class Wide(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n, 8)

    def forward(self, x):
        return self.fc(x)
"""


def test_edits_to_a_users_module_are_seen_without_a_restart(tmp_path: Path) -> None:
    """The checker imports the user's module into the server's process; after the file changes,
    the next check imports it afresh (nndsl/incremental.py, ModuleWatch)."""
    pytest.importorskip("torch")
    pkg = tmp_path / "userpkg_lsp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(WIDE)
    text = "from userpkg_lsp.layers import Wide\n\nmodel M {\n    input x: [B, 4]\n    x -> Wide(4)\n}\n"
    c = Client(tmp_path, env={"PYTHONPATH": str(tmp_path)})
    try:
        c.request(
            "initialize",
            {"processId": None, "capabilities": {}, "initializationOptions": {"trusted": True}},
        )
        c.notify("initialized", {})
        uri = open_doc(c, tmp_path / "w.nn", text)
        first = c.notification(  # the first check imports torch: give it time
            "textDocument/publishDiagnostics", lambda p: p["uri"] == uri, timeout=180
        )
        assert first["diagnostics"] == []
        where = {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 10}}
        assert "[B, 8]" in c.request("textDocument/hover", where)["contents"]["value"]
        (pkg / "layers.py").write_text(WIDE.replace("nn.Linear(n, 8)", "nn.Linear(n, 32)"))
        c.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text}]},
        )
        assert diagnostics(c, uri, 2) == []
        value = c.request("textDocument/hover", where)["contents"]["value"]
        assert "[B, 32]" in value and "[B, 8]" not in value
    finally:
        c.close()


def test_positions_are_counted_in_utf16_units(client: Client, tmp_path: Path) -> None:
    """An emoji is one character of the spec but two UTF-16 units of the client's: ranges and
    positions after it on its line were one unit off."""
    text = 'model M {\n    input x: [B, 4]\n    y = "\U0001f600" + Linaer\n}\n'
    uri = open_doc(client, tmp_path / "e.nn", text)
    (d,) = diagnostics(client, uri, 1)
    assert d["message"].startswith("unknown layer or block `Linaer`")
    # `Linaer` is at character 14 (0-based) of the line, 15 in UTF-16 units
    assert d["range"] == {
        "start": {"line": 2, "character": 15},
        "end": {"line": 2, "character": 21},
    }
    text = (
        'model M {\n    input x: [B, 4]\n    y = x if "\U0001f600" == "a" else x -> Linear(3)\n}\n'
    )
    uri = open_doc(client, tmp_path / "h.nn", text)
    # `Linear` is at character 34 of the line, 35 in UTF-16 units
    hover = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 36}},
    )
    assert hover is not None and "Linear" in hover["contents"]["value"]
    assert hover["range"]["start"] == {"line": 2, "character": 35}


def test_requests_about_a_closed_document(client: Client, tmp_path: Path) -> None:
    """A change followed at once by a close left a debounced check to run on a document no
    longer open (pygls then read the file, which did not exist: an error logged); requests
    about it failed the same way."""
    uri = (tmp_path / "never_saved.nn").as_uri()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "nndsl", "version": 1, "text": ""}},
    )
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": "model M {"}]},
    )
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    doc, pos = {"uri": uri}, {"line": 0, "character": 3}
    assert client.request("textDocument/hover", {"textDocument": doc, "position": pos}) is None
    assert client.request("textDocument/definition", {"textDocument": doc, "position": pos}) is None
    done = client.request("textDocument/completion", {"textDocument": doc, "position": pos})
    assert done["items"] == []
    assert client.request("textDocument/documentSymbol", {"textDocument": doc}) == []
    time.sleep(0.5)  # past the debounce
    client.request("textDocument/documentSymbol", {"textDocument": doc})
    errors = [
        m
        for m in [*client.pending, *list(client.messages.queue)]
        if m.get("method") == "window/logMessage" and m["params"]["type"] == 1
    ]
    assert not errors, errors


def test_every_prefix_of_a_spec(client: Client, tmp_path: Path) -> None:
    """A spec typed from its first character to its last: at each of 40 prefixes, hover,
    completion and definition at seeded random places (and past the end) answer without an
    error, and no check fails."""
    import random

    rnd = random.Random(7)
    text = (Path(__file__).parent.parent / "samples" / "resnet.nn").read_text(encoding="utf-8")
    text += "\ntrain {\n    data = digits(val_split=0.2)\n    loss = CrossEntropyLoss()\n}\n"
    uri = open_doc(client, tmp_path / "typed.nn", "")
    cuts = sorted({len(text) * i // 40 for i in range(41)} | {len(text)})
    for version, cut in enumerate(cuts, start=2):
        doc = text[:cut]
        client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": doc}]},
        )
        lines = doc.split("\n")
        places = [
            {
                "line": (ln := rnd.randrange(len(lines))),
                "character": rnd.randrange(len(lines[ln]) + 2),
            }
            for _ in range(2)
        ] + [{"line": len(lines) + 3, "character": 500}]
        for pos in places:
            for method in ("hover", "completion", "definition"):
                client.request(
                    f"textDocument/{method}", {"textDocument": {"uri": uri}, "position": pos}
                )
        client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    diagnostics(client, uri, len(cuts) + 1)  # the last version is checked too
    errors = [
        m
        for m in [*client.pending, *list(client.messages.queue)]
        if m.get("method") == "window/logMessage" and m["params"]["type"] == 1
    ]
    assert not errors, errors
