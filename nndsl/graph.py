"""`nndsl graph`: a diagram of a model, built from what the checker inferred.

One box per layer, function or operator (its output shape and parameter count), one box per
model input and output; an expanded block call or labelled group (`layer1: (...)`) is a framed
cluster holding its own steps, a collapsed one a single box.  Edges follow the data: a residual
`x + y` box has two arrows in, a U-Net `cat` one from the encoder far above.

The diagram is a tree of `Level`s: a model, the inside of an expanded block call, the inside of an
expanded group.  Every level is a small DAG of items (boxes, nested clusters, and the pseudo
items standing for the level's inputs and outputs), which `layout` lays out on its own, bottom up
(a cluster is one big item in its parent), then `render_svg` places them and stitches each
arrow into one path through the cluster borders it crosses.  `render_dot` writes the same
nodes, clusters and edges as Graphviz text.

The layout is a plain layered (Sugiyama) one, written here so that no Graphviz binary is needed:
layers by longest path, order by barycentre sweeps (members of a cluster stay together because a
cluster is one item), x by isotonic regression towards the neighbours' centres, smooth edges
through one dummy point per layer crossed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from nndsl.check.graph import BlockInstance, ModuleSlot, Op, SliceV, TensorV
from nndsl.check.summary import fmt_count, format_type
from nndsl.dims import Dim

# ---------------------------------------------------------------------------------------------
# The diagram as data


@dataclass
class Node:
    """A box: a layer, a function, an operator, a model input or output, a collapsed block."""

    id: str
    kind: str  # "input" | "output" | "layer" | "block" | "function" | "op" | "param"
    title: str  # "conv1: Conv2d", "relu", "+"
    shape: str  # the output shape(s)
    params: Dim | None = None
    name: str = ""  # the qualified state_dict name ("" for functions and operators)
    scope: str = ""  # the qualified name of the block or group it is in ("" at model level)
    value: str | None = None  # the name the spec gives its output (`d1 = ...`)

    def lines(self) -> list[str]:
        title = f"{self.value} = {self.title}" if self.value else self.title
        out = [title, self.shape]
        if self.params:
            out.append(f"{fmt_count(self.params)} params")
        return out


@dataclass
class Item:
    """One thing of a level: a node, a cluster, or a pseudo item for an input or output port."""

    kind: str  # "node" | "cluster" | "in" | "out"
    node: Node | None = None
    cluster: Cluster | None = None
    port: int = 0  # for "in" / "out": which input or output of the level


@dataclass
class Edge:
    """An edge of one level, from (item, output port) to (item, input port)."""

    src: int
    src_port: int
    dst: int
    dst_port: int
    label: str = ""


@dataclass
class Level:
    items: list[Item] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    n_in: int = 0
    n_out: int = 0

    def add(self, item: Item) -> int:
        self.items.append(item)
        return len(self.items) - 1


@dataclass
class Cluster:
    id: str
    title: str  # "layer1: Sequential", "up2: Up"
    params: Dim
    name: str
    level: Level

    def label(self) -> str:
        return f"{self.title} · {fmt_count(self.params)} params" if self.params else self.title


@dataclass
class Diagram:
    model: str
    top: Level
    nodes: list[Node]
    edges: list[tuple[str, str, str]]  # (from node id, to node id, label), between real nodes
    clusters: list[Cluster]


@dataclass(frozen=True)
class _Val:
    """A value at a level: where it comes from there, and which real node computes it."""

    item: int
    port: int
    node: str | None  # the real node (None: no node computes it, e.g. a constant)
    label: str = ""


class _Builder:
    def __init__(self, depth: int | None):
        self.depth = depth
        self.nodes: list[Node] = []
        self.edges: list[tuple[str, str, str]] = []
        self.clusters: list[Cluster] = []

    def node(self, level: Level, **kw: Any) -> tuple[int, Node]:
        n = Node(id=f"n{len(self.nodes)}", **kw)
        self.nodes.append(n)
        return level.add(Item("node", node=n)), n

    def connect(self, level: Level, src: _Val, dst: int, dst_port: int = 0) -> None:
        level.edges.append(Edge(src.item, src.port, dst, dst_port, src.label))
        item = level.items[dst]
        if item.kind == "node" and src.node is not None:
            assert item.node is not None
            self.edges.append((src.node, item.node.id, src.label))

    def cluster(self, level: Level, title: str, params: Dim, name: str, inner: Level) -> int:
        c = Cluster(f"c{len(self.clusters)}", title, params, name, inner)
        self.clusters.append(c)
        return level.add(Item("cluster", cluster=c))

    def expand(self, nesting: int) -> bool:
        return self.depth is None or nesting < self.depth

    # -- a block body (the model itself, or an expanded block call) --------------------------

    def block(
        self, inst: BlockInstance, scope: str, nesting: int, ins: list[_Val] | None
    ) -> tuple[Level, list[_Val]]:
        """The level of a block's body; `ins`: the outer values of its inputs (None for the
        model: its inputs become input boxes).  Returns the level and its output values."""
        level = Level()
        inputs: list[_Val] = []
        for i, (name, value) in enumerate(inst.inputs):
            if ins is None:
                idx, n = self.node(
                    level, kind="input", title=f"input {name}", shape=format_type(value.type)
                )
                inputs.append(_Val(idx, 0, n.id))
            else:
                idx = level.add(Item("in", port=i))
                outer = ins[i] if i < len(ins) else _Val(-1, 0, None)
                inputs.append(_Val(idx, 0, outer.node, outer.label))
        level.n_in = 0 if ins is None else len(inst.inputs)
        made: list[Any] = []  # per op: how to find its output values
        for k, op in enumerate(inst.ops):
            value = inst.names.get((k, ()))
            made.append(self.op(level, op, scope, nesting, inputs, made, value))
        outs = _flatten(inst.outputs)
        if ins is None:
            many = len(outs) > 1
            for i, tv in enumerate(outs):
                idx, _ = self.node(
                    level,
                    kind="output",
                    title=f"output {i}" if many else "output",
                    shape=format_type(tv.type),
                    scope=scope,
                )
                self.connect(level, _resolve(tv, inputs, made), idx)
            return level, []
        level.n_out = len(outs)
        results = []
        for i, tv in enumerate(outs):
            idx = level.add(Item("out", port=i))
            v = _resolve(tv, inputs, made)
            self.connect(level, v, idx)
            results.append(v)
        return level, results

    def op(
        self,
        level: Level,
        op: Op,
        scope: str,
        nesting: int,
        inputs: list[_Val],
        made: list[Any],
        value: str | None,
    ) -> Any:
        tensors = _tensors((op.args, tuple(v for _, v in op.kwargs)))
        srcs = [_resolve(tv, inputs, made) for tv in tensors]
        if op.kind == "module":
            return self.slot(level, op.target, scope, nesting, srcs, value)
        if op.kind == "function":
            title = op.entry.name if op.entry else str(op.target)
            kind = "function"
        elif op.kind in ("binop", "unary"):
            title, kind = str(op.target), "op"
        elif op.kind == "index":
            title, kind = _index_text(op.args[1:]), "op"
        else:  # param or buffer
            title, kind = f"{op.kind} {op.target.name}", "param"
            value = None if value == op.target.name else value
        idx, n = self.node(
            level,
            kind=kind,
            title=title,
            shape=format_type(op.out),
            params=op.target.count if op.kind == "param" else None,
            name=scope + op.target.name if op.kind in ("param", "buffer") else "",
            scope=scope.rstrip("."),
            value=value,
        )
        for s in srcs:
            self.connect(level, s, idx)
        return ("node", idx, n.id)

    def slot(
        self,
        level: Level,
        slot: ModuleSlot,
        scope: str,
        nesting: int,
        srcs: list[_Val],
        value: str | None,
    ) -> Any:
        q = scope + slot.name
        block = slot.kind == "block" and slot.instance is not None
        group = slot.kind == "sequential"
        if (block or group) and self.expand(nesting):
            outer = [_Val(-1, 0, s.node, s.label) for s in srcs]
            if block:
                assert slot.instance is not None
                inner, outs = self.block(slot.instance, q + ".", nesting + 1, outer)
            else:
                inner, outs = self.sequence(slot, q + ".", nesting + 1, outer[:1])
            title = f"{slot.name}: {slot.type_name}"
            if value:
                title = f"{value} = {title}"
            idx = self.cluster(level, title, slot.total_params(), q, inner)
            for i, s in enumerate(srcs[: inner.n_in]):
                self.connect(level, s, idx, i)
            return ("cluster", idx, [o.node for o in outs], [o.label for o in outs])
        title = slot.type_name
        if group:
            title = "Sequential " + _group_summary(slot)
        idx, n = self.node(
            level,
            kind="block" if (block or group) else "layer",
            title=f"{slot.name}: {title}",
            shape=format_type(slot.out_type),
            params=slot.total_params(),
            name=q,
            scope=scope.rstrip("."),
            value=value,
        )
        for s in srcs:
            self.connect(level, s, idx)
        return ("node", idx, n.id)

    def sequence(
        self, slot: ModuleSlot, scope: str, nesting: int, ins: list[_Val]
    ) -> tuple[Level, list[_Val]]:
        """An expanded nn.Sequential: its children one after the other."""
        level = Level(n_in=1, n_out=1)
        idx = level.add(Item("in", port=0))
        outer = ins[0] if ins else _Val(-1, 0, None)
        cur = _Val(idx, 0, outer.node, outer.label)
        for child in slot.children:
            made = self.slot(level, child, scope, nesting, [cur], None)
            cur = _made_value(made, ())
        out = level.add(Item("out", port=0))
        self.connect(level, cur, out)
        return level, [cur]


def _group_summary(slot: ModuleSlot) -> str:
    """`(2× BasicBlock)`, `(Conv2d → BatchNorm2d)`: what a collapsed group holds."""
    names = [c.type_name for c in slot.children]
    if not names:
        return "()"
    if len(set(names)) == 1 and len(names) > 1:
        return f"({len(names)}× {names[0]})"
    if len(names) > 4:
        return f"({names[0]} → … → {names[-1]}, {len(names)} steps)"
    return "(" + " → ".join(names) + ")"


def _index_text(items: tuple[Any, ...]) -> str:
    """`[:, -1]`: an index step as the spec wrote it (tensors as `t`)."""
    if len(items) == 1 and isinstance(items[0], tuple):
        items = items[0]

    def one(x: Any) -> str:
        if isinstance(x, SliceV):
            parts = ["" if v is None else str(v) for v in (x.start, x.stop, x.step)]
            return ":".join(parts[:2] if x.step is None else parts)
        if x is Ellipsis:
            return "..."
        if isinstance(x, TensorV):
            return "t"
        return str(x)

    return "[" + ", ".join(one(x) for x in items) + "]"


def _flatten(values: Any) -> list[TensorV]:
    out: list[TensorV] = []
    for v in values if isinstance(values, (list, tuple)) else [values]:
        if isinstance(v, TensorV):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(_flatten(v))
    return out


def _tensors(x: Any) -> list[TensorV]:
    """Every tensor among an op's arguments, in order (lists and index items included)."""
    if isinstance(x, TensorV):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for e in x for t in _tensors(e)]
    return []


def _resolve(tv: TensorV, inputs: list[_Val], made: list[Any]) -> _Val:
    if tv.op < 0:
        v = inputs[tv.input_index] if 0 <= tv.input_index < len(inputs) else _Val(-1, 0, None)
        if tv.path:
            return _Val(v.item, v.port, v.node, (v.label + _path_label(tv.path)).strip())
        return v
    return _made_value(made[tv.op], tv.path)


def _made_value(made: Any, path: tuple[int, ...]) -> _Val:
    if made[0] == "node":
        return _Val(made[1], 0, made[2], _path_label(path))
    _, idx, nodes, labels = made
    port = path[0] if path and len(nodes) > 1 and path[0] < len(nodes) else 0
    rest = path[1:] if path and len(nodes) > 1 else path
    node = nodes[port] if port < len(nodes) else None
    label = ((labels[port] if port < len(labels) else "") + _path_label(rest)).strip()
    return _Val(idx, port, node, label)


def _path_label(path: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in path)


def build(inst: BlockInstance, depth: int | None = None) -> Diagram:
    """The diagram of a model; blocks and groups nested deeper than `depth` are single boxes
    (depth 0: every block call and labelled group of the model is one box; None: no limit)."""
    b = _Builder(depth)
    top, _ = b.block(inst, "", 0, None)
    return Diagram(inst.name, top, b.nodes, b.edges, b.clusters)


def max_depth(inst: BlockInstance) -> int:
    """How many levels of blocks and groups a model nests (0: none)."""

    def slot_depth(s: ModuleSlot) -> int:
        if s.kind == "block" and s.instance is not None:
            return 1 + max_depth(s.instance)
        if s.kind == "sequential":
            return 1 + max((slot_depth(c) for c in s.children), default=0)
        return 0

    return max((slot_depth(op.target) for op in inst.ops if op.kind == "module"), default=0)


# ---------------------------------------------------------------------------------------------
# DOT


def _dot_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_FILL = {
    "input": "#dbeafe",
    "output": "#dcfce7",
    "layer": "#ffffff",
    "block": "#fef3c7",
    "function": "#f3f4f6",
    "op": "#fce7f3",
    "param": "#ede9fe",
}
_CLUSTER_FILL = ("#f8fafc", "#eef2f7")


def render_dot(d: Diagram) -> str:
    out = [
        f"digraph {_dot_str(d.model)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]

    def level(lv: Level, indent: str, nesting: int) -> None:
        for it in lv.items:
            if it.kind == "node":
                n = it.node
                assert n is not None
                attrs = [
                    f"label={_dot_str(chr(10).join(n.lines()))}",
                    f"fillcolor={_dot_str(_FILL[n.kind])}",
                ]
                if n.name:
                    attrs.append(f"tooltip={_dot_str(n.name)}")
                out.append(f"{indent}{n.id} [{', '.join(attrs)}];")
            elif it.kind == "cluster":
                c = it.cluster
                assert c is not None
                out.append(f"{indent}subgraph cluster_{c.id} {{")
                out.append(f"{indent}  label={_dot_str(c.label())};")
                out.append(
                    f'{indent}  style="rounded,filled"; fillcolor={_dot_str(_CLUSTER_FILL[nesting % 2])}; '
                    f'color="#94a3b8";'
                )
                if c.name:
                    out.append(f"{indent}  tooltip={_dot_str(c.name)};")
                level(c.level, indent + "  ", nesting + 1)
                out.append(f"{indent}}}")

    level(d.top, "  ", 0)
    for src, dst, label in d.edges:
        attr = f" [label={_dot_str(label)}]" if label else ""
        out.append(f"  {src} -> {dst}{attr};")
    out.append("}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Layout: each level on its own, bottom up

CHAR_W = 7.0  # width of a character of the 11.5px monospace font (0.6 em), as laid out
LINE_H = 15.0
PAD_X = 10.0
PAD_Y = 6.0
NODE_GAP = 22.0
DUMMY_GAP = 10.0
ROW_GAP = 34.0
CL_PAD = 12.0
CL_HEAD = 24.0
SWEEPS = 12


def _node_size(n: Node) -> tuple[float, float]:
    lines = n.lines()
    w = max(len(s) for s in lines) * CHAR_W + 2 * PAD_X
    return max(w, 48.0), len(lines) * LINE_H + 2 * PAD_Y


@dataclass
class _Layout:
    """A level laid out, in its own coordinates (top-left of its content at 0, 0)."""

    w: float
    h: float
    pos: list[tuple[float, float]]  # per item: top-left
    size: list[tuple[float, float]]  # per item
    inner: dict[int, tuple[_Layout, float]]  # cluster item → its layout and content x offset
    points: list[list[tuple[float, float]]]  # per level edge
    in_x: dict[int, float] = field(default_factory=dict)  # port → x
    out_x: dict[int, float] = field(default_factory=dict)


def layout(level: Level) -> _Layout:
    n = len(level.items)
    size: list[tuple[float, float]] = []
    inner: dict[int, tuple[_Layout, float]] = {}
    for i, it in enumerate(level.items):
        if it.kind == "node":
            assert it.node is not None
            size.append(_node_size(it.node))
        elif it.kind == "cluster":
            assert it.cluster is not None
            sub = layout(it.cluster.level)
            w = max(sub.w + 2 * CL_PAD, len(it.cluster.label()) * CHAR_W + 2 * CL_PAD)
            inner[i] = (sub, (w - sub.w) / 2)
            size.append((w, sub.h + CL_HEAD + CL_PAD))
        else:
            size.append((0.0, 0.0))
    edges = [e for e in level.edges if 0 <= e.src < n]
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for e in edges:
        preds[e.dst].append(e.src)
        succs[e.src].append(e.dst)

    # layers: longest path from the top (items are in a topological order); items nothing
    # flows into (parameters) move down next to their first use; outputs at the bottom
    layer = [0] * n
    for i, it in enumerate(level.items):
        if it.kind != "in" and preds[i]:
            layer[i] = max(layer[p] + 1 for p in preds[i])
    for i in reversed(range(n)):
        it = level.items[i]
        if it.kind not in ("in", "out") and not preds[i] and succs[i]:
            layer[i] = max(0, min(layer[s] for s in succs[i]) - 1)
    last = max([layer[i] for i in range(n) if level.items[i].kind != "out"] or [0]) + 1
    for i, it in enumerate(level.items):
        if it.kind == "out":
            layer[i] = last
    n_layers = max(layer or [0]) + 1

    # long edges: one dummy vertex per layer crossed
    v_layer = list(layer)
    v_width = [w for w, _ in size]
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    chains: list[list[int]] = []
    for e in edges:
        chain = [e.src]
        for lay in range(layer[e.src] + 1, layer[e.dst]):
            v_layer.append(lay)
            v_width.append(0.0)
            up.append([])
            down.append([])
            chain.append(len(v_layer) - 1)
        chain.append(e.dst)
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)
        chains.append(chain)
    rows: list[list[int]] = [[] for _ in range(n_layers)]
    for v, lay in enumerate(v_layer):
        rows[lay].append(v)

    rows = _order(rows, up, down)
    xs = _xpos(rows, up, down, v_width, n)

    row_h = [max([size[v][1] for v in r if v < n] or [0.0]) for r in rows]
    row_top = []
    y = 0.0
    for h in row_h:
        row_top.append(y)
        y += h + ROW_GAP
    height = max(0.0, y - ROW_GAP)
    pos: list[tuple[float, float]] = []
    for i in range(n):
        w, h = size[i]
        pos.append((xs[i] - w / 2, row_top[layer[i]]))
    width = max([xs[v] + v_width[v] / 2 for v in range(len(xs))] or [0.0])
    out = _Layout(width, height, pos, size, inner, [])
    for i, it in enumerate(level.items):
        if it.kind == "in":
            out.in_x[it.port] = xs[i]
        elif it.kind == "out":
            out.out_x[it.port] = xs[i]

    def src_point(e: Edge) -> tuple[float, float]:
        it = level.items[e.src]
        x, y0 = pos[e.src]
        w, h = size[e.src]
        if it.kind == "cluster":
            sub, ox = inner[e.src]
            return (x + ox + sub.out_x.get(e.src_port, sub.w / 2), y0 + h)
        return (x + w / 2, y0 + h)

    def dst_point(e: Edge) -> tuple[float, float]:
        it = level.items[e.dst]
        x, y0 = pos[e.dst]
        w, _ = size[e.dst]
        if it.kind == "cluster":
            sub, ox = inner[e.dst]
            return (x + ox + sub.in_x.get(e.dst_port, sub.w / 2), y0)
        return (x + w / 2, y0)

    by_edge = {id(e): c for e, c in zip(edges, chains)}
    pts_of: dict[int, list[tuple[float, float]]] = {}
    for e in edges:
        chain = by_edge[id(e)]
        pts = [src_point(e)]
        for v in chain[1:-1]:
            lay = v_layer[v]
            pts += [(xs[v], row_top[lay]), (xs[v], row_top[lay] + row_h[lay])]
        pts.append(dst_point(e))
        pts_of[id(e)] = pts
    # several arrows into one box: spread along its top, in the order they come from
    into: dict[int, list[Edge]] = {}
    for e in edges:
        if level.items[e.dst].kind == "node":
            into.setdefault(e.dst, []).append(e)
    for dst, es in into.items():
        if len(es) < 2:
            continue
        es.sort(key=lambda e: pts_of[id(e)][-2][0])
        w = size[dst][0]
        step = min(24.0, w * 0.6 / (len(es) - 1))
        cx = pos[dst][0] + w / 2
        for k, e in enumerate(es):
            x = cx + (k - (len(es) - 1) / 2) * step
            pts_of[id(e)][-1] = (x, pts_of[id(e)][-1][1])
    out.points = [pts_of.get(id(e), []) for e in level.edges]
    return out


def _crossings(rows: list[list[int]], down: list[list[int]]) -> int:
    total = 0
    for a, b in zip(rows, rows[1:]):
        where = {v: i for i, v in enumerate(b)}
        pairs = sorted((i, where[w]) for i, v in enumerate(a) for w in down[v] if w in where)
        ends = [q for _, q in pairs]
        for i in range(len(pairs)):
            for j in range(i + 1, len(pairs)):
                if pairs[i][0] != pairs[j][0] and ends[j] < ends[i]:
                    total += 1
    return total


def _order(rows: list[list[int]], up: list[list[int]], down: list[list[int]]) -> list[list[int]]:
    """Barycentre sweeps, down and up, keeping the order with the fewest crossings."""
    best = [list(r) for r in rows]
    best_x = _crossings(best, down)
    cur = [list(r) for r in rows]
    for sweep in range(SWEEPS):
        if best_x == 0:
            break
        downwards = sweep % 2 == 0
        seq = range(1, len(cur)) if downwards else range(len(cur) - 2, -1, -1)
        for lay in seq:
            ref = cur[lay - 1] if downwards else cur[lay + 1]
            where = {v: i for i, v in enumerate(ref)}
            nbrs = up if downwards else down

            def key(item: tuple[int, int]) -> float:
                i, v = item
                ps = [where[w] for w in nbrs[v] if w in where]
                return sum(ps) / len(ps) if ps else float(i) * len(ref) / max(1, len(cur[lay]))

            cur[lay] = [v for _, v in sorted(enumerate(cur[lay]), key=key)]
        x = _crossings(cur, down)
        if x < best_x:
            best, best_x = [list(r) for r in cur], x
    return best


def _isotonic(target: list[float], weight: list[float]) -> list[float]:
    """The non-decreasing sequence closest to `target` (weighted least squares): pool adjacent
    violators."""
    blocks: list[list[float]] = []  # [value, weight, count]
    for t, w in zip(target, weight):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for v, _, c in blocks:
        out.extend([v] * int(c))
    return out


def _xpos(
    rows: list[list[int]],
    up: list[list[int]],
    down: list[list[int]],
    width: list[float],
    n_real: int,
) -> list[float]:
    """Centre x of every vertex: each row in its order, at least a gap apart, as close as it can
    be to the mean of its neighbours' centres (a few passes down and up)."""
    xs = [0.0] * len(width)

    def seps(r: list[int]) -> list[float]:
        out = [0.0]
        for a, b in zip(r, r[1:]):
            gap = DUMMY_GAP if a >= n_real or b >= n_real else NODE_GAP
            out.append(out[-1] + (width[a] + width[b]) / 2 + gap)
        return out

    for r in rows:
        for v, off in zip(r, seps(r)):
            xs[v] = off
    for it in range(16):
        order = range(len(rows)) if it % 2 == 0 else range(len(rows) - 1, -1, -1)
        for lay in order:
            r = rows[lay]
            off = seps(r)
            target, weight = [], []
            for v, o in zip(r, off):
                nb = (up[v] if it % 2 == 0 else down[v]) or (up[v] + down[v])
                d = sum(xs[w] for w in nb) / len(nb) if nb else xs[v]
                target.append(d - o)
                weight.append(4.0 if v >= n_real else 1.0)  # long edges straight
            for v, y, o in zip(r, _isotonic(target, weight), off):
                xs[v] = y + o
    left = min((xs[v] - width[v] / 2 for r in rows for v in r), default=0.0)
    return [x - left for x in xs]


# ---------------------------------------------------------------------------------------------
# SVG and HTML

FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
MARGIN = 16.0
TITLE_H = 28.0


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _path(pts: list[tuple[float, float]]) -> str:
    clean: list[tuple[float, float]] = []
    for p in pts:
        if not clean or abs(p[0] - clean[-1][0]) > 0.05 or abs(p[1] - clean[-1][1]) > 0.05:
            clean.append(p)
    if not clean:
        return ""
    d = [f"M{_fmt(clean[0][0])},{_fmt(clean[0][1])}"]
    for (x0, y0), (x1, y1) in zip(clean, clean[1:]):
        if abs(x0 - x1) < 0.5 or abs(y0 - y1) < 0.5:
            d.append(f"L{_fmt(x1)},{_fmt(y1)}")
        else:
            m = (y0 + y1) / 2
            d.append(f"C{_fmt(x0)},{_fmt(m)} {_fmt(x1)},{_fmt(m)} {_fmt(x1)},{_fmt(y1)}")
    return " ".join(d)


def _esc(s: str) -> str:
    return html.escape(s, quote=True)


def render_svg(d: Diagram, params: Dim | None = None) -> str:
    top = layout(d.top)
    title = d.model + (f" · {fmt_count(params)} params" if params else "")
    width = max(top.w, len(title) * CHAR_W * 1.15) + 2 * MARGIN
    height = top.h + 2 * MARGIN + TITLE_H
    backs: list[str] = []
    boxes: list[str] = []
    lines: list[str] = []
    labels: list[str] = []
    abs_pts: dict[tuple[int, int], list[tuple[float, float]]] = {}
    parent: dict[int, tuple[Level, int]] = {}

    def place(level: Level, lay: _Layout, ox: float, oy: float, nesting: int) -> None:
        for k, e in enumerate(level.edges):
            abs_pts[(id(level), k)] = [(x + ox, y + oy) for x, y in lay.points[k]]
        for i, it in enumerate(level.items):
            x, y = lay.pos[i]
            w, h = lay.size[i]
            x, y = x + ox, y + oy
            if it.kind == "node":
                assert it.node is not None
                boxes.append(_svg_node(it.node, x, y, w, h))
            elif it.kind == "cluster":
                c = it.cluster
                assert c is not None
                sub, cx = lay.inner[i]
                parent[id(c.level)] = (level, i)
                backs.append(
                    f'<g class="cluster" id="{c.id}" data-name="{_esc(c.name)}">'
                    f"<title>{_esc(c.name)}</title>"
                    f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(w)}" height="{_fmt(h)}" rx="8" '
                    f'fill="{_CLUSTER_FILL[nesting % 2]}" stroke="#94a3b8"/></g>'
                )
                labels.append(  # above the edges, with a halo of the cluster's colour
                    f'<text x="{_fmt(x + CL_PAD)}" y="{_fmt(y + 16)}" class="cl" '
                    f'stroke="{_CLUSTER_FILL[nesting % 2]}">{_esc(c.label())}</text>'
                )
                place(c.level, sub, x + cx, y + CL_HEAD, nesting + 1)

    place(d.top, top, MARGIN, MARGIN + TITLE_H, 0)

    def chain(level: Level, k: int, guard: int = 0) -> list[tuple[float, float]]:
        e = level.edges[k]
        pts = abs_pts.get((id(level), k), [])
        if guard > 64 or e.src < 0:
            return pts
        src = level.items[e.src]
        if src.kind == "in" and id(level) in parent:
            up_level, ci = parent[id(level)]
            for j, pe in enumerate(up_level.edges):
                if pe.dst == ci and pe.dst_port == src.port:
                    return chain(up_level, j, guard + 1) + pts
        elif src.kind == "cluster":
            assert src.cluster is not None
            sub = src.cluster.level
            for j, ie in enumerate(sub.edges):
                if sub.items[ie.dst].kind == "out" and sub.items[ie.dst].port == e.src_port:
                    return chain(sub, j, guard + 1) + pts
        return pts

    def edges(level: Level) -> None:
        for k, e in enumerate(level.edges):
            dst = level.items[e.dst]
            if dst.kind == "node" and e.src >= 0:
                assert dst.node is not None
                src = _source_node(level, k, parent)
                pts = chain(level, k)
                attrs = (
                    f'data-src="{src}" data-dst="{dst.node.id}"'
                    if src
                    else f'data-dst="{dst.node.id}"'
                )
                lines.append(
                    f'<path class="edge" {attrs} d="{_path(pts)}" marker-end="url(#arrow)"/>'
                )
                if e.label and pts:
                    x, y = pts[-1]
                    lines.append(
                        f'<text class="el" x="{_fmt(x + 4)}" y="{_fmt(y - 6)}">{_esc(e.label)}</text>'
                    )
        for it in level.items:
            if it.kind == "cluster":
                assert it.cluster is not None
                edges(it.cluster.level)

    edges(d.top)
    style = (
        f"text{{font-family:{FONT};font-size:11.5px;fill:#111827}}"
        ".t{font-weight:bold}.s{fill:#1d4ed8}.p{fill:#6b7280}"
        ".cl{font-weight:bold;fill:#475569;paint-order:stroke;stroke-width:5px}"
        ".el{font-size:10px;fill:#6b7280;paint-order:stroke;stroke:#fff;stroke-width:4px}"
        ".edge{fill:none;stroke:#64748b;stroke-width:1.3}"
        ".hd{font-size:15px;font-weight:bold}"
    )
    return (
        "\n".join(
            [
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(width)}" height="{_fmt(height)}" '
                f'viewBox="0 0 {_fmt(width)} {_fmt(height)}" data-model="{_esc(d.model)}">',
                f"<style>{style}</style>",
                '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
                'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#64748b"/>'
                "</marker></defs>",
                '<rect width="100%" height="100%" fill="#ffffff"/>',
                f'<text class="hd" x="{_fmt(MARGIN)}" y="{_fmt(MARGIN + 14)}">{_esc(title)}</text>',
                *backs,
                *lines,
                *labels,
                *boxes,
                "</svg>",
            ]
        )
        + "\n"
    )


def _source_node(level: Level, k: int, parent: dict[int, tuple[Level, int]]) -> str | None:
    """The real node an edge's value comes from, following ports out of and into clusters."""
    for _ in range(256):
        e = level.edges[k]
        src = level.items[e.src]
        if src.kind == "node":
            assert src.node is not None
            return src.node.id
        if src.kind == "in":
            if id(level) not in parent:
                return None
            up_level, ci = parent[id(level)]
            nxt = [
                j for j, pe in enumerate(up_level.edges) if pe.dst == ci and pe.dst_port == src.port
            ]
            if not nxt:
                return None
            level, k = up_level, nxt[0]
        elif src.kind == "cluster":
            assert src.cluster is not None
            sub = src.cluster.level
            nxt = [
                j
                for j, ie in enumerate(sub.edges)
                if sub.items[ie.dst].kind == "out" and sub.items[ie.dst].port == e.src_port
            ]
            if not nxt:
                return None
            level, k = sub, nxt[0]
        else:
            return None
    return None


def _svg_node(n: Node, x: float, y: float, w: float, h: float) -> str:
    lines = n.lines()
    tip = "\n".join([n.name] + lines if n.name else lines)
    stroke = 'stroke="#b45309" stroke-width="1.6"' if n.kind == "block" else 'stroke="#475569"'
    out = [
        f'<g class="node" id="{n.id}" data-kind="{n.kind}" data-name="{_esc(n.name)}" '
        f'data-scope="{_esc(n.scope)}" data-type="{_esc(n.title.split(": ", 1)[-1])}">',
        f"<title>{_esc(tip)}</title>",
        f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(w)}" height="{_fmt(h)}" rx="5" '
        f'fill="{_FILL[n.kind]}" {stroke}/>',
    ]
    classes = ["t", "s", "p"]
    for i, s in enumerate(lines):
        ty = y + PAD_Y + LINE_H * i + 11.5
        out.append(
            f'<text x="{_fmt(x + w / 2)}" y="{_fmt(ty)}" text-anchor="middle" class="{classes[i]}">'
            f"{_esc(s)}</text>"
        )
    out.append("</g>")
    return "".join(out)


def render_html(inst: BlockInstance, depth: int | None = None) -> str:
    """A page with the diagram at every depth (a menu switches between them), each an inline SVG."""
    deepest = max_depth(inst)
    chosen = deepest if depth is None else min(depth, deepest)
    parts = []
    for k in range(deepest + 1):
        svg = render_svg(build(inst, k), inst.total_params())
        hidden = "" if k == chosen else " hidden"
        parts.append(f'<div class="depth" data-depth="{k}"{hidden}>\n{svg}</div>')
    options = "".join(
        f'<option value="{k}"{" selected" if k == chosen else ""}>'
        f"{'blocks as single boxes' if k == 0 else f'{k} level' + ('s' if k > 1 else '') + ' open'}"
        f"{' (everything)' if k == deepest and k else ''}</option>"
        for k in range(deepest + 1)
    )
    name = _esc(inst.name)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{name}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #111827; }}
label {{ font-size: 0.95em; }}
.depth {{ margin-top: 1em; }}
</style>
</head>
<body>
<label>Blocks: <select id="depth">{options}</select></label>
{chr(10).join(parts)}
<script>
document.getElementById("depth").addEventListener("change", function (ev) {{
  document.querySelectorAll(".depth").forEach(function (d) {{
    d.hidden = d.dataset.depth !== ev.target.value;
  }});
}});
</script>
</body>
</html>
"""


FORMATS = (".svg", ".html", ".dot")


def render(inst: BlockInstance, suffix: str, depth: int | None = None) -> str:
    """The diagram of a model as `.dot`, `.svg` or `.html` text."""
    if suffix == ".html":
        return render_html(inst, depth)
    diagram = build(inst, depth)
    if suffix == ".svg":
        return render_svg(diagram, inst.total_params())
    return render_dot(diagram)
