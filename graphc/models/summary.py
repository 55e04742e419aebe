"""The text of ``model.summary()``: Keras 3's table of layers (name and type, output shape,
parameter count) and the parameter totals with their memory sizes.

Only text: it reads a built model's public structure (layers, weights) and the optimizer's
variables it is given, and changes nothing.
"""
from __future__ import annotations


def summary_text(model, optimizer_variables) -> str:
    """The summary of a built ``model``: each layer's name (type), output shape and parameter
    count, then the total, trainable and non-trainable counts, and the optimizer's state when
    ``optimizer_variables`` holds it (Keras 3 counts it in the total)."""
    widths = (33, 26, 15)

    def row(cells, left="│", mid="│", right="│", align=("<", "<", ">")):
        return left + mid.join(f" {c:{a}{w - 2}} " for c, w, a in zip(cells, widths, align)) + right

    def rule(left, mid, right, char):
        return left + mid.join(char * w for w in widths) + right

    layers = model.layers
    lines = [f'Model: "{model.name}"',
             rule("┏", "┳", "┓", "━"),
             row(("Layer (type)", "Output Shape", "Param #"), "┃", "┃", "┃"),
             rule("┡", "╇", "┩", "━")]
    for i, layer in enumerate(layers):
        label = _wrap(f"{layer.name} ({type(layer).__name__})", widths[0] - 2)
        lines.append(row((label[0], str(layer.output_shape), f"{layer.count_params():,}")))
        lines += [row((more, "", "")) for more in label[1:]]   # Keras wraps long names
        lines.append(rule("├", "┼", "┤", "─") if i < len(layers) - 1 else rule("└", "┴", "┘", "─"))
    if not layers:
        lines.append(rule("└", "┴", "┘", "─"))
    trainable = sum(int(w.value.size) for w in model.trainable_weights)
    frozen = sum(int(w.value.size) for w in model.non_trainable_weights)
    nbytes = sum(int(w.value.nbytes) for w in model.weights)
    tbytes = sum(int(w.value.nbytes) for w in model.trainable_weights)
    opt_vars = list(optimizer_variables)
    opt_count = sum(int(v.value.size) for v in opt_vars)
    opt_bytes = sum(int(v.value.nbytes) for v in opt_vars)
    lines.append(f" Total params: {trainable + frozen + opt_count:,} ({_readable_size(nbytes + opt_bytes)})")
    lines.append(f" Trainable params: {trainable:,} ({_readable_size(tbytes)})")
    lines.append(f" Non-trainable params: {frozen:,} ({_readable_size(nbytes - tbytes)})")
    if opt_vars:
        lines.append(f" Optimizer params: {opt_count:,} ({_readable_size(opt_bytes)})")
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list:
    """``text`` in lines of at most ``width`` characters, broken at spaces where possible."""
    lines, current = [], ""
    for word in text.split(" "):
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return lines + [current] if current or not lines else lines


def _readable_size(nbytes: float) -> str:
    """Keras' memory size text: 397.54 KB (powers of 1024)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    size, unit = float(nbytes), 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.2f} {units[unit]}"
