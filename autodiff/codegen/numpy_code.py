"""The NumPy batch backend: a per-example program run on whole batches, layer by layer.

The per-example program traced by :func:`autodiff.codegen.compiled.compile_batch`
runs once per batch instead of once per example: each per-example variable
is an array over the examples, each shared one (a parameter) a number, and
the generated lines are the pure-Python backend's lines with the NumPy
functions of the same names (:mod:`autodiff.codegen.array_math`).  A shared
value's gradient is the sum over the examples of its per-example
contributions, so each contribution is summed where it arises
(``grad_w += dot(grad_v, x)`` for a product).

Three structures of a network are then found in the trace and given one
array operation each, instead of one per scalar:

* **dense layers** (`find_layers`): a neuron's ``b + w1·x1 + ... + wn·xn``
  is, in the trace, a chain of n adds over n products; neurons reading the
  same inputs form a layer, run as one matrix product forward and backward;
* **blocks** (`find_block_steps`): a layer's outputs are the rows of one
  array, and one operation applied to each row (its relu) becomes one
  operation on the array, whose rows may feed the next layer directly;
* **sums of squares** in the penalty (an L2 penalty): one dot product.

A shared argument given as a flat list (the parameters) is read as one
array: a layer's weights and biases are views into it, and its gradient is
one array, filled through the same views.  Pass a NumPy array and you get
an array back (keep the parameters as an array across steps, update it in
place); pass a list and you get a list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from autodiff.codegen.batch import (
    MAIN,
    BatchPlan,
    batch_count_lines,
    hoisted_backward_lines,
    hoisted_forward_lines,
    penalty_lines,
)
from autodiff.codegen.python_code import (
    SymbolGraph,
    SymbolNode,
    derivative_text,
    forward_expression,
    generated_names,
    grads_return,
    header_comment,
    operand_text,
    tuple_text,
    unpack_lines,
    worth_a_line,
)
from autodiff.codegen.tracing import (
    Operand,
    Program,
    Step,
    aux_list,
    comment_text,
    flatten_layout,
    function_names,
    grad_name,
)
from autodiff.rules import RULES
from autodiff.symbolic import SYMBOLIC_MATH, Symbol


# ----------------------------------------------------------------------
# Dense layers.
# ----------------------------------------------------------------------
@dataclass
class Layer:
    """Neurons ``out_j = bias_j + Σ_k weights[j][k] * inputs[k]`` sharing their inputs.

    ``outputs[j]`` is neuron j's last add step, ``weights[j]`` its weights
    (shared names), ``inputs`` the per-example names, ``internal`` every
    step of the neurons' chains (the matrix product computes them all).
    """

    name: str
    inputs: list[str]
    weights: list[list[str]]
    biases: list[str | float | None]
    outputs: list[str]
    internal: set[str]


def _linear_chain(out: Step, by_name: dict[str, Step], uses: dict[str, int], batched: set[str],
                  shared_inputs: set[str]) -> tuple[list[tuple[str, str]], Operand | None, set[str]] | None:
    """If ``out`` ends ``bias + w1*x1 + ... + wn*xn`` (w shared, x per example), return its parts."""
    terms: list[tuple[str, str]] = []
    steps = []
    node = out
    while True:
        if node.op != '+' or len(node.operands) != 2:
            break
        left, right = node.operands
        if not isinstance(right, str):
            break
        product = by_name.get(right)
        pair = _weight_times_input(product, batched, shared_inputs) if product else None
        if pair is None or uses.get(right) != 1:
            break
        terms.append(pair)
        steps += [node.name, right]
        inner = by_name.get(left) if isinstance(left, str) else None
        if inner is not None and inner.op == '+' and uses.get(inner.name) == 1 and inner.name in batched:
            node = inner
            continue
        # left ends the chain: a bias (shared input or constant) or the first product.
        first = _weight_times_input(inner, batched, shared_inputs) if inner else None
        if inner is not None and first is not None and uses.get(inner.name) == 1:
            terms.append(first)
            steps.append(inner.name)  # the step that computes ``left``
            bias = None
        elif left in shared_inputs or not isinstance(left, str):
            bias = left
        else:
            return None
        terms.reverse()
        return terms, bias, set(steps)
    return None


def _weight_times_input(step: Step | None, batched: set[str],
                        shared_inputs: set[str]) -> tuple[str, str] | None:
    """(weight, input) for a step ``w * x`` or ``x * w``, w a shared input, x per example."""
    if step is None or step.op != '*':
        return None
    a, b = step.operands
    if a in shared_inputs and b in batched:
        return a, b
    if b in shared_inputs and a in batched:
        return b, a
    return None


def fusion_matches_the_rules() -> bool:
    """Whether the rule table's ``*`` and ``+`` are what a fused layer's backward assumes.

    A layer's backward, ``∂W = G Xᵀ, ∂b = Σ G, ∂X = Wᵀ G``, is the chain rule
    through ``b + Σ w·x`` with ∂(w·x)/∂w = x, ∂(w·x)/∂x = w and ∂(a + b)/∂a =
    ∂(a + b)/∂b = 1.  Those partials are read from the table here, not
    assumed: were a rule ever changed, layers would simply not be fused.

    >>> fusion_matches_the_rules()
    True
    """
    w, x, out = Symbol('w'), Symbol('x'), Symbol('out')
    times = RULES['*'].partials(SYMBOLIC_MATH, out, w, x)
    plus = RULES['+'].partials(SYMBOLIC_MATH, out, w, x)
    return [str(d) for d in times] == ['x', 'w'] and list(plus) == [1, 1]


def _use_counts(plan: BatchPlan) -> dict[str, int]:
    """How often each name is read: by the looped steps, and once more for the output and aux."""
    uses: dict[str, int] = {}
    for s in plan.looped:
        for o in s.operands:
            if isinstance(o, str):
                uses[o] = uses.get(o, 0) + 1
    # The output and the aux are read after the forward pass: a chain must not be fused through them.
    for name in [plan.example.output] + aux_list(plan.example.aux):
        if isinstance(name, str):
            uses[name] = uses.get(name, 0) + 1
    return uses


def find_layers(plan: BatchPlan, min_width: int = 2) -> list[Layer]:
    """Groups of per-example linear combinations (neurons) that read the same inputs.

    Only chains whose intermediate steps are used nowhere else qualify,
    so replacing a chain by its layer's matrix product changes nothing
    else in the program.
    """
    steps = plan.looped
    by_name = {s.name: s for s in steps}
    uses = _use_counts(plan)
    shared_inputs = {n for i in plan.shared for n in flatten_layout(plan.example.layouts[i])}
    groups: dict[tuple[str, ...], list] = {}
    claimed: set[str] = set()
    for step in reversed(steps):  # outermost adds first: each chain is found from its end
        if step.name in claimed or step.op != '+':
            continue
        found = _linear_chain(step, by_name, uses, plan.batched_names, shared_inputs)
        if found is None or len(found[0]) < min_width:
            continue
        terms, bias, internal = found
        claimed |= internal
        key = tuple(x for _, x in terms)
        groups.setdefault(key, []).append((step.name, [w for w, _ in terms], bias, internal))
    position = {s.name: i for i, s in enumerate(steps)}
    ordered = sorted(groups.items(), key=lambda group: min(position[n[0]] for n in group[1]))
    layers = []
    for number, (inputs, neurons) in enumerate(ordered, 1):
        neurons.reverse()  # back in program order
        layers.append(Layer(f"_layer{number}", list(inputs), [n[1] for n in neurons], [n[2] for n in neurons],
                            [n[0] for n in neurons], set().union(*(n[3] for n in neurons))))
    return layers


# ----------------------------------------------------------------------
# Blocks: per-example scalars kept as the rows of one array.
# ----------------------------------------------------------------------
@dataclass
class Block:
    """Per-example scalars held as the rows of one array (a row per scalar, a column per example).

    A layer's outputs are a block (its matrix product makes them), and so
    are the columns of a batched list argument; one operation applied to
    every row of a block makes a new block (`BlockStep`).
    """

    name: str
    rows: list[str]


@dataclass
class BlockStep:
    """One operation applied row by row, as one array operation: ``step`` reads and writes blocks.

    ``step.name`` is the new block, ``step.operands`` the blocks (or the
    constants and shared values, the same for every row) it reads;
    ``members`` are the per-row steps it stands for, in row order.
    """

    step: Step
    members: list[str]


def _row_key(step: Step, row_of: dict[str, tuple[Block, int]], batched: set[str]
             ) -> tuple[tuple, int] | None:
    """``((op, operands), j)`` if ``step`` reads row ``j`` of blocks, else only values alike for every row."""
    described, row = [], None
    for operand in step.operands:
        if isinstance(operand, str) and operand in row_of:
            block, j = row_of[operand]
            if row is not None and j != row:
                return None
            row = j
            described.append(('row', block.name))
        elif isinstance(operand, str) and operand in batched:
            return None  # a per-example value that is not a row: not the same for every row
        else:  # repr tells -0.0 from 0.0 and nan equals nan
            described.append(('same', operand if isinstance(operand, str) else repr(operand)))
    if row is None:
        return None
    return (step.op, tuple(described)), row


def find_block_steps(plan: BatchPlan, blocks: list[Block], taken: set[str]) -> list[BlockStep]:
    """Operations applied to every row of a block, each found as one `BlockStep` (blocks of blocks too).

    ``blocks`` (extended here with each new block) are the known blocks;
    ``taken`` the steps already computed elsewhere (inside layers).  A
    group qualifies when each row has exactly one such step, all alike.
    """
    by_name = {block.name: block for block in blocks}
    row_of = {row: (block, j) for block in blocks for j, row in enumerate(block.rows)}
    taken = set(taken)
    found: list[BlockStep] = []
    while True:  # a new block's rows may be read by the next operation: look again
        groups: dict[tuple, dict[int, Step]] = {}
        clashes = set()
        for step in plan.looped:
            key = None if step.name in taken else _row_key(step, row_of, plan.batched_names)
            if key is not None:
                members = groups.setdefault(key[0], {})
                if key[1] in members:
                    clashes.add(key[0])
                members[key[1]] = step
        before = len(found)
        for (op, described), members in groups.items():
            widths = {len(by_name[name].rows) for kind, name in described if kind == 'row'}
            if (op, described) in clashes or widths != {len(members)}:
                continue
            name = f"_block{len(found) + 1}"
            first = members[0]
            operands = tuple(d if kind == 'row' else first.operands[i]
                             for i, (kind, d) in enumerate(described))
            rows = [members[j].name for j in range(len(members))]
            block = Block(name, rows)
            blocks.append(block)
            by_name[name] = block
            row_of.update({row: (block, j) for j, row in enumerate(rows)})
            taken.update(rows)
            found.append(BlockStep(Step(name, op, operands), rows))
        if len(found) == before:
            return found


# ----------------------------------------------------------------------
# Shared list arguments as arrays.
# ----------------------------------------------------------------------
@dataclass
class VectorArgument:
    """A shared argument given as a flat list of scalars: one array ``_t<i>``, its gradient ``_gt<i>``."""

    position: int
    names: list[str]

    @property
    def array(self) -> str:
        return f"_t{self.position}"

    @property
    def grad(self) -> str:
        return f"_gt{self.position}"


def vector_arguments(plan: BatchPlan) -> dict[int, VectorArgument]:
    """The shared arguments whose layout is a flat, non-empty list of scalars, by position."""
    found = {}
    for i in plan.shared:
        layout = plan.example.layouts[i]
        if isinstance(layout, list) and layout and all(isinstance(name, str) for name in layout):
            found[i] = VectorArgument(i, list(layout))
    return found


def slice_text(indices: list[list[int]], size: int) -> str | None:
    """A view of a flat array (``{}``) holding these entries as a matrix, by basic slicing, if one exists.

    A view costs no copy: a layer reads its weights from the parameters, and
    its gradient is added into the gradient array through the same view.

    >>> slice_text([[0, 1], [3, 4]], 6)        # an MLP's layer: rows of 2 weights and a bias
    '{}[0:6].reshape(2, 3)[:, :2]'
    >>> slice_text([[2], [5]], 6)              # its biases, as a column
    '{}[2:6:3, None]'
    >>> slice_text([[1, 0]], 2) is None        # not evenly spaced: an index array instead
    True
    """
    rows, cols = len(indices), len(indices[0])
    base = indices[0][0]
    across = indices[0][1] - base if cols > 1 else 1
    down = indices[1][0] - base if rows > 1 else cols
    if any(indices[j][k] != base + j * down + k * across for j in range(rows) for k in range(cols)):
        return None
    if cols == 1 and down > 0:
        return f"{{}}[{base}:{base + (rows - 1) * down + 1}:{down}, None]"
    if across == 1 and down >= cols and base + rows * down <= size:
        view = f"{{}}[{base}:{base + rows * down}].reshape({rows}, {down})"
        return view if down == cols else view + f"[:, :{cols}]"
    return None


# ----------------------------------------------------------------------
# Code generation.
# ----------------------------------------------------------------------
class NumpyCode:
    """The NumPy source of a batch plan, with its layers, blocks and array arguments found.

    >>> from autodiff.codegen.batch import plan_batch
    >>> from autodiff.codegen.tracing import trace
    >>> def two_relus(w, x):
    ...     hidden = [(w[2 * j] * x[0] + w[2 * j + 1] * x[1]).relu() for j in range(2)]
    ...     return hidden[0] + hidden[1]
    >>> code = NumpyCode(plan_batch(trace(two_relus, ([1.0] * 4, [0.0, 0.0])), None, [1], None))
    >>> [(len(layer.outputs), len(layer.inputs)) for layer in code.layers], list(code.vectors)
    ([(2, 2)], [0])
    >>> [(block.step.op, block.step.operands) for block in code.block_steps]
    [('relu', ('_layer1_out',))]
    """

    def __init__(self, plan: BatchPlan, fuse_layers: bool = True):
        self.plan = plan
        self.layers = find_layers(plan) if fuse_layers and fusion_matches_the_rules() else []
        self.vectors = vector_arguments(plan)
        self.home = {n: (v, k) for v in self.vectors.values() for k, n in enumerate(v.names)}
        self.blocks = [Block(f"{layer.name}_out", list(layer.outputs)) for layer in self.layers]
        for i in plan.batched:
            layout = plan.example.layouts[i]
            if isinstance(layout, list) and layout and all(isinstance(n, str) for n in layout):
                self.blocks.append(Block(f"_b{i}_rows", list(layout)))
        in_layers: set[str] = set().union(*(layer.internal for layer in self.layers))
        self.block_steps = find_block_steps(plan, self.blocks, in_layers) if self.layers else []
        self.skipped = in_layers | {m for b in self.block_steps for m in b.members}
        self.block_of = {block.name: block for block in self.blocks}
        self.block_of_rows = {tuple(block.rows): block.name for block in self.blocks}
        self.wanted = plan.wanted | {b.name for b in self.blocks if any(r in plan.wanted for r in b.rows)}
        self.emit_at = self._emission_points()
        self.module_lines: list[str] = []
        self.module_lines_by_text: dict[str, str] = {}
        self.read = self._names_read()

    def _emission_points(self) -> dict[str, Layer | BlockStep]:
        """Where each layer and block step is written: at its first row in program order."""
        position = {s.name: i for i, s in enumerate(self.plan.looped)}
        points: dict[str, Layer | BlockStep] = {layer.outputs[0]: layer for layer in self.layers}
        for block_step in self.block_steps:
            points[min(block_step.members, key=position.__getitem__)] = block_step
        return points

    def layer_input(self, layer: Layer) -> str | None:
        """The block whose rows are exactly the layer's inputs (its X, as is), if there is one."""
        return self.block_of_rows.get(tuple(layer.inputs))

    def _names_read(self) -> set[str]:
        """The per-example names read one by one: by per-row steps, the output and aux, stacked inputs."""
        example = self.plan.example
        read = {o for s in self.plan.looped if s.name not in self.skipped
                for o in s.operands if isinstance(o, str)}
        read |= {o for o in [example.output] + aux_list(example.aux) if isinstance(o, str)}
        for layer in self.layers:
            if self.layer_input(layer) is None:
                read.update(layer.inputs)
        return read

    def constant_index(self, indices: Any) -> str:
        """A module-level index array, made once when the code is built (one per distinct set of indices)."""
        text = f"np.array({indices!r})"
        if text not in self.module_lines_by_text:
            self.module_lines_by_text[text] = f"_index{len(self.module_lines) + 1}"
            self.module_lines.append(f"{self.module_lines_by_text[text]} = {text}")
        return self.module_lines_by_text[text]

    def matrix(self, names: list[list[str]], of_gradient: bool) -> str | None:
        """These shared scalars as a matrix read from (or added into) their array argument, if in one."""
        homes = [[self.home.get(n) for n in row] for row in names]
        if any(h is None for row in homes for h in row):
            return None
        vectors = {h[0].position for row in homes for h in row if h is not None}
        indices = [[h[1] for h in row if h is not None] for row in homes]
        if len(vectors) != 1 or len({i for row in indices for i in row}) != len(names) * len(names[0]):
            return None  # from several arguments, or a scalar used twice
        vector = self.vectors[vectors.pop()]
        text = slice_text(indices, len(vector.names)) or '{}[' + self.constant_index(indices) + ']'
        if of_gradient and text.endswith(')'):  # a target of += must be a subscript, not a call
            text += '[...]'
        return text.format(vector.grad if of_gradient else vector.array)

    # -- arguments ----------------------------------------------------------
    def argument_lines(self) -> list[str]:
        """Array arguments checked and read as arrays; other shared ones unpacked; batched ones as columns."""
        example, params = self.plan.example, self.plan.parameters
        lines = []
        for i in self.plan.shared:
            vector = self.vectors.get(i)
            if vector is None:
                lines += unpack_lines(params[i], example.layouts[i], '    ', example.arg_names[i])
                continue
            size, message = len(vector.names), repr(f"{example.arg_names[i]} must hold {len(vector.names)} "
                                                    f"numbers, got an array of shape ")
            lines += [f"    {vector.array} = np.asarray({params[i]}, dtype=float)",
                      f"    if {vector.array}.shape != ({size},):",
                      f"        raise ValueError({message} + str({vector.array}.shape))"]
        for i in self.plan.batched:
            lines.append(f"    {params[i]} = np.asarray({params[i]}, dtype=float)")
        lines += batch_count_lines(self.plan)
        lines.append('    # an array over the examples per per-example scalar (a column), or per list (rows)')
        for i in self.plan.batched:
            columns = _column_lines(params[i], example.layouts[i], ())
            lines += [line for line in columns if line.split()[0] in self.read]
            if f"_b{i}_rows" in self.block_of:
                lines.append(f"    _b{i}_rows = {params[i]}.T")
        return lines

    def scalar_lines(self, used: set[str]) -> list[str]:
        """The array arguments' scalars the code (whose names are ``used``) still reads one by one."""
        lines = []
        for position, vector in self.vectors.items():
            read = [k for k, name in enumerate(vector.names) if name in used]
            if read:
                lines.append(f"    _l{position} = {vector.array}.tolist()  # read one by one, as floats")
                lines += [f"    {vector.names[k]} = _l{position}[{k}]" for k in read]
        return lines

    # -- forward ------------------------------------------------------------
    def forward_lines(self) -> list[str]:
        """The per-example steps on whole arrays: a layer as a matrix product, a block step as one call."""
        fnames = function_names()
        lines = ['    # forward: a line per operation (a matrix product per dense layer, one call per block)']
        for step in self.plan.looped:
            unit = self.emit_at.get(step.name)
            if isinstance(unit, Layer):
                lines += self.layer_forward(unit) + self.row_lines(self.block_of[f"{unit.name}_out"])
            elif isinstance(unit, BlockStep):
                first = self.block_of[unit.step.name]
                lines.append(f"    {unit.step.name} = {forward_expression(unit.step, fnames)}"
                             f"  # {comment_text(unit.step.op)} of each row, {len(first.rows)} rows")
                lines += self.row_lines(first)
            elif step.name not in self.skipped:
                label = self.plan.example.labels.get(step.name)
                line = f"    {step.name} = {forward_expression(step, fnames)}"
                lines.append(f"{line}  # {comment_text(label)}" if label else line)
        return lines

    def row_lines(self, block: Block) -> list[str]:
        """The rows of a block that per-row code reads, as names (views, no copies)."""
        return [f"    {row} = {block.name}[{j}]" for j, row in enumerate(block.rows) if row in self.read]

    def layer_forward(self, layer: Layer) -> list[str]:
        """``out = W @ X + b``: the layer's neurons at once, over the whole batch."""
        name = layer.name
        weights = self.matrix(layer.weights, False) or \
            'np.array([' + ', '.join('[' + ', '.join(row) + ']' for row in layer.weights) + '])'
        lines = [f"    # {name}: {len(layer.outputs)} neurons of {len(layer.inputs)} inputs, "
                 f"each bias + Σ w·x: one matrix product",
                 f"    {name}_w = {weights}"]
        x = self.layer_input(layer)
        if x is None:
            lines.append(f"    {name}_x = np.stack(({', '.join(layer.inputs)},))")
        product = f"{name}_w @ {x or name + '_x'}"
        bias = self.bias_column(layer)
        lines.append(f"    {name}_out = {product} + {bias}" if bias else f"    {name}_out = {product}")
        return lines

    def bias_column(self, layer: Layer, of_gradient: bool = False) -> str | None:
        """The layer's biases as a column (a view when they live in an array argument); None without any."""
        if all(b is None for b in layer.biases):
            return None
        if all(isinstance(b, str) for b in layer.biases):
            view = self.matrix([[str(b)] for b in layer.biases], of_gradient)
            if view is not None:
                return view
        if of_gradient:
            return None
        column = '], ['.join('0.0' if b is None else operand_text(b) for b in layer.biases)
        return f"np.array([[{column}]])"

    # -- backward -----------------------------------------------------------
    def backward_lines(self, graph: SymbolGraph) -> list[str]:
        """The chain rule through the per-example steps, last first, as whole-batch lines.

        A layer's or block step's backward is written where it was written
        forward, its first row: every row's gradient is complete by then.
        """
        lines: list[str] = []
        write = self.writer(graph, lines)
        for step in reversed(self.plan.looped):
            unit = self.emit_at.get(step.name)
            if isinstance(unit, Layer):
                lines += self.gather(self.block_of[f"{unit.name}_out"], graph)
                if f"{unit.name}_out" in graph.has_grad:
                    lines += self.layer_backward(unit, graph)
            elif isinstance(unit, BlockStep):
                lines += self.gather(self.block_of[unit.step.name], graph)
                graph.walk([unit.step], write)
            elif step.name not in self.skipped:
                graph.walk([step], write)
        return lines

    def gather(self, block: Block, graph: SymbolGraph) -> list[str]:
        """Gradients that per-row code gave a block's rows, added into the block's gradient array."""
        if not any(row in graph.has_grad for row in block.rows):
            return []
        grad = grad_name(block.name)
        if len(block.rows) == 1:
            stacked = f"{grad_name(block.rows[0])}[None]"
        else:
            stacked = 'np.stack((' + ', '.join(grad_name(r) if r in graph.has_grad else '_zero'
                                               for r in block.rows) + ',))'
        summed = f"{grad} + {stacked}" if block.name in graph.has_grad else stacked
        line = f"    {grad} = {summed}"
        graph.receive(block.name)
        return [line + "  # the rows' gradients, as one array"]

    def layer_backward(self, layer: Layer, graph: SymbolGraph) -> list[str]:
        """The chain rule through a layer: ∂W = G Xᵀ, ∂b = Σ G, ∂X = Wᵀ G.

        These follow from the table's rules for ``*`` and ``+``, which
        :func:`fusion_matches_the_rules` reads before any layer is fused.
        """
        name, g = layer.name, grad_name(f"{layer.name}_out")
        x = self.layer_input(layer) or f"{name}_x"
        lines = [f"    # {name} backward: grad_W = G @ Xᵀ, grad_b = G summed over examples, grad_X = Wᵀ @ G"]
        if any(w in self.wanted for row in layer.weights for w in row):
            view = self.matrix(layer.weights, True)
            if view is not None:
                lines.append(f"    {view} += {g} @ {x}.T")
            else:
                lines.append(f"    {name}_gw = ({g} @ {x}.T).tolist()")
                lines += [f"    {grad_name(w)} += {name}_gw[{j}][{k}]" for j, row in enumerate(layer.weights)
                          for k, w in enumerate(row) if w in self.wanted]
        if any(isinstance(b, str) and b in self.wanted for b in layer.biases):
            view = self.bias_column(layer, True)
            if view is not None:
                lines.append(f"    {view} += {g}.sum(axis=1, keepdims=True)")
            else:
                lines.append(f"    {name}_gb = {g}.sum(axis=1).tolist()")
                lines += [f"    {grad_name(b)} += {name}_gb[{j}]" for j, b in enumerate(layer.biases)
                          if isinstance(b, str) and b in self.wanted]
        return lines + self.layer_input_gradient(layer, graph)

    def layer_input_gradient(self, layer: Layer, graph: SymbolGraph) -> list[str]:
        """``Wᵀ @ G`` into the input block's gradient, or into each input's."""
        name, g = layer.name, grad_name(f"{layer.name}_out")
        block = self.layer_input(layer)
        if block is not None:
            if block not in self.wanted:
                return []
            grad = grad_name(block)
            line = f"{grad} + {name}_w.T @ {g}" if block in graph.has_grad else f"{name}_w.T @ {g}"
            graph.receive(block)
            return [f"    {grad} = {line}"]
        wanted = [(k, x) for k, x in enumerate(layer.inputs) if x in self.wanted]
        if not wanted:
            return []
        lines = [f"    {name}_gx = {name}_w.T @ {g}"]
        for k, x in wanted:
            lines.append(f"    {grad_name(x)} = {grad_name(x)} + {name}_gx[{k}]" if x in graph.has_grad
                         else f"    {grad_name(x)} = {name}_gx[{k}]")
            graph.receive(x)
        return lines

    def writer(self, graph: SymbolGraph, lines: list[str]) -> Callable[..., None]:
        """The walker's combine: each contribution as a line on whole arrays (summed for a shared target)."""
        per_example = self.plan.batched_names | set(self.block_of)

        def write(node: SymbolNode, position: int, parent: SymbolNode, local: Any, contribution: Any) -> None:
            target = parent.name
            if target is None or not worth_a_line(node, parent, contribution, self.wanted):
                return
            grad = grad_name(target)
            comment = f"  # {comment_text(node._op)}: ∂{node.name}/∂{target} = {derivative_text(local)}"
            if target in per_example:
                text = derivative_text(contribution)
                lines.append(f"    {grad} = {grad} + {text}{comment}" if target in graph.has_grad
                             else f"    {grad} = {text}{comment}")
            elif (node.name not in self.block_of and isinstance(local, Symbol)
                  and local.text in self.plan.batched_names):  # Σ over examples of grad · x: one dot
                lines.append(f"    {grad} += dot({derivative_text(node.grad)}, {local.text}){comment}")
            else:  # a shared value: this contribution summed over the examples (and rows)
                lines.append(f"    {grad} += total({derivative_text(contribution)}){comment}")
            graph.receive(target)
        return write

    # -- the penalty ----------------------------------------------------------
    def penalty_parts(self) -> tuple[BatchPlan, list[str], list[str]]:
        """The plan with each sum of squares of an array argument taken out of its penalty, and its lines.

        Returns the reduced plan (each sum now a shared value with a
        gradient), the lines computing the sums (one dot product each) and
        the lines adding their gradients into the arrays' gradients.
        """
        plan, penalty = self.plan, self.plan.penalty
        if penalty is None or not fusion_matches_the_rules():
            return plan, [], []
        sums = square_sums(penalty, self.home)
        if not sums:
            return plan, [], []
        removed = set().union(*(s.steps for s in sums))
        before, after = [], []
        for n, found in enumerate(sums, 1):
            vector = self.vectors[self.home[found.terms[0]][0].position]
            indices = [self.home[t][1] for t in found.terms]
            whole = indices == list(range(len(vector.names)))
            chosen = vector.array if whole else f"{vector.array}[{self.constant_index(indices)}]"
            start = '' if found.start is None or found.start == 0 else f"{operand_text(found.start)} + "
            before += [f"    # the penalty's Σ p·p over {len(indices)} parameters: one dot product",
                       f"    _squared{n} = {chosen}",
                       f"    {found.name} = {start}float(dot(_squared{n}, _squared{n}))"]
            if found.terms[0] in self.wanted:  # ∂(p·p)/∂p = p + p: the two partials of the '*' rule
                target = vector.grad if chosen == vector.array else \
                    f"{vector.grad}[{self.constant_index(indices)}]"
                after.append(f"    {target} += (2 * {grad_name(found.name)}) * _squared{n}")
        names = [s.name for s in sums]
        kept = [s for s in penalty.steps if s.name not in removed]
        reduced = replace(plan, penalty=replace(penalty, steps=kept), accumulators=plan.accumulators + names,
                          penalty_wanted=plan.penalty_wanted | set(names))
        return reduced, before, after

    # -- the whole function ---------------------------------------------------
    def source(self) -> str:
        """The generated module: index arrays made once, then the batch function."""
        plan, example = self.plan, self.plan.example
        reduced, squares, square_grads = self.penalty_parts()
        forward = self.forward_lines()
        output = example.output
        forward.append(f"    _value = float(total({operand_text(output)})) / _count"
                       if output in plan.batched_names else f"    _value = float({operand_text(output)})")
        graph = SymbolGraph(reduced.accumulators)
        backward = ['    # backward: _gv1 is ∂(mean over the batch)/∂_v1 per example, and so on',
                    '    _zero = np.zeros(_count)']
        backward += [f"    {v.grad} = np.zeros({len(v.names)})" for i, v in self.vectors.items()
                     if i in plan.chosen]
        if output in plan.batched_names:
            backward.append(f"    {grad_name(output)} = np.full(_count, 1 / _count)")
            graph.receive(output)
        elif output in graph.has_grad:
            backward.append(f"    {grad_name(output)} += 1.0")
        backward += self.backward_lines(graph)
        backward += hoisted_backward_lines(reduced)
        backward += squares + penalty_lines(reduced) + square_grads
        hoisted = hoisted_forward_lines(plan)
        body = forward + backward
        used = generated_names(hoisted + body)  # what the code reads: the scalars and sums it needs
        lines = [f"def {MAIN}({', '.join(plan.parameters)}):", header_comment(example, plan.parameters)]
        lines += self.argument_lines() + self.scalar_lines(used) + hoisted + forward
        lines += backward[:1] + self.accumulator_lines(reduced, used) + backward[1:]
        lines += self.scatter_lines(used) + [self.return_line()]
        return '\n'.join(self.module_lines + lines)

    def accumulator_lines(self, reduced: BatchPlan, used: set[str]) -> list[str]:
        """``_ga0 = 0.0`` for the shared gradients kept as floats (an array argument's: only those used)."""
        return [f"    {grad_name(n)} = 0.0" for n in reduced.accumulators
                if n not in self.home or grad_name(n) in used]

    def scatter_lines(self, used: set[str]) -> list[str]:
        """An array argument's gradients kept as floats (per-row code reached them), added into its array."""
        lines = []
        for i, vector in self.vectors.items():
            ks = [k for k, n in enumerate(vector.names) if grad_name(n) in used]
            if ks and i in self.plan.chosen:
                values = ', '.join(grad_name(vector.names[k]) for k in ks)
                lines.append(f"    {vector.grad}[{self.constant_index(ks)}] += ({values},)")
        return lines

    def return_line(self) -> str:
        """The value (and aux), then each chosen argument's gradient in the form it came in."""
        plan, example = self.plan, self.plan.example
        texts = []
        for i in plan.chosen:
            vector = self.vectors.get(i)
            if vector is None:
                texts.append(grads_return(example.layouts, [i], 0, set(plan.accumulators)))
            else:  # an array in, an array out; a list in, a list of floats out
                texts.append(f"({vector.grad} if isinstance({plan.parameters[i]}, np.ndarray) "
                             f"else {vector.grad}.tolist())")
        grads = texts[0] if isinstance(plan.argnums, int) else tuple_text(texts)
        aux = None if example.aux is None else _aux_lines(example.aux, plan.batched_names)
        value = '_value' if aux is None else f"(_value, {aux})"
        return f"    return {value}, {grads}"


def numpy_batch_source(plan: BatchPlan, fuse_layers: bool = True) -> str:
    """Generated NumPy code: the example's program with each line on whole batches (see `NumpyCode`).

    Per-example names hold arrays over the examples; shared names hold
    numbers, or views of their array argument.  Gradients of per-example
    names are built with ``a = a + b`` (never ``+=``: two names may hold
    the same array).  With ``fuse_layers`` each recognised dense layer is
    one matrix product and each operation on a whole layer one call.
    """
    return NumpyCode(plan, fuse_layers).source()


# ----------------------------------------------------------------------
# Sums of squares (an L2 penalty).
# ----------------------------------------------------------------------
@dataclass
class SquareSum:
    """``start + t1·t1 + ... + tn·tn`` in a program: its last step ``name``, the ``terms``, its ``steps``."""

    name: str
    start: Operand | None
    terms: list[str]
    steps: set[str] = field(default_factory=set)


def square_sums(program: Program, home: dict[str, Any]) -> list[SquareSum]:
    """The chains of adds over squares of one array argument's scalars, each term once, in ``program``."""
    by_name = {s.name: s for s in program.steps}
    uses: dict[str, int] = {}
    for operand in [o for s in program.steps for o in s.operands] + [program.output]:
        if isinstance(operand, str):
            uses[operand] = uses.get(operand, 0) + 1
    found, claimed = [], set()
    for step in reversed(program.steps):
        if step.name in claimed or step.op != '+':
            continue
        chain = _square_chain(step, by_name, uses, home)
        if chain is not None and len(chain.terms) >= 2 and len(set(chain.terms)) == len(chain.terms) \
                and len({home[t][0].position for t in chain.terms}) == 1:
            claimed |= chain.steps
            found.append(chain)
    return found


def _square_chain(out: Step, by_name: dict[str, Step], uses: dict[str, int],
                  home: dict[str, Any]) -> SquareSum | None:
    """If ``out`` ends ``start + t1·t1 + ... + tn·tn`` (each intermediate read once), its parts."""
    def squared(step: Step | None) -> str | None:
        if step is None or step.op != '*' or step.operands[0] != step.operands[1]:
            return None
        term = step.operands[0]
        return term if isinstance(term, str) and term in home else None

    chain = SquareSum(out.name, None, [])
    node = out
    while node.op == '+' and len(node.operands) == 2:
        left, right = node.operands
        term = squared(by_name.get(right)) if isinstance(right, str) and uses.get(right) == 1 else None
        if term is None:
            return None
        chain.terms.append(term)
        chain.steps |= {node.name, str(right)}
        inner = by_name.get(left) if isinstance(left, str) else None
        if inner is not None and inner.op == '+' and uses.get(inner.name) == 1:
            node = inner
            continue
        first = squared(inner) if inner is not None and uses.get(inner.name) == 1 else None
        if first is not None:
            chain.terms.append(first)
            chain.steps.add(str(left))
        elif isinstance(left, str):
            return None
        else:
            chain.start = left
        chain.terms.reverse()
        return chain
    return None


def _aux_lines(aux: Any, per_example: set[str]) -> str:
    """The aux of every example as plain lists (a number per example, or a row)."""
    def column(operand: Any) -> str:  # a shared value or constant is the same for every example
        if isinstance(operand, str) and operand in per_example:
            return operand
        return f"np.broadcast_to({operand_text(operand)}, (_count,)).astype(float)"
    if isinstance(aux, list):
        return f"np.stack([{', '.join(map(column, aux))}], axis=1).tolist()" if aux else "[[]] * _count"
    return f"{column(aux)}.tolist()"


def _column_lines(source: str, layout: Any, index: tuple[int, ...]) -> list[str]:
    """``_a1_0 = _b1[:, 0]``: each per-example scalar as its column of the batch."""
    if isinstance(layout, str):
        where = ', '.join([':'] + [str(i) for i in index])
        return [f"    {layout} = {source}[{where}]" if index else f"    {layout} = {source}"]
    return [line for i, item in enumerate(layout) for line in _column_lines(source, item, index + (i,))]
