"""Loop references for convolutions and pooling (small sizes), shared by the nn and API-coverage tests."""

import numpy as np


def conv2d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    (sh, sw), (ph, pw), (dh, dw) = [(v, v) if isinstance(v, int) else v for v in (stride, padding, dilation)]
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (wd - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + (ho - 1) * sh + 1, sh)
                cols = slice(j * dw, j * dw + (wo - 1) * sw + 1, sw)
                patch = x[:, g * cg:(g + 1) * cg, rows, cols]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, i, j])
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def conv_transpose2d_ref(x, w, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """The scatter definition: every input pixel adds weight * value into the output."""
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    s, p, op, d = stride, padding, output_padding, dilation
    full = np.zeros((n, og * groups, (h - 1) * s + d * (kh - 1) + 1 + op, (wd - 1) * s + d * (kw - 1) + 1 + op))
    cg = cin // groups
    for c in range(cin):
        g = c // cg
        for y in range(h):
            for z in range(wd):
                for i in range(kh):
                    for j in range(kw):
                        contrib = x[:, c, y, z, None] * w[c, :, i, j]
                        full[:, g * og:(g + 1) * og, y * s + i * d, z * s + j * d] += contrib
    ho, wo = (h - 1) * s - 2 * p + d * (kh - 1) + op + 1, (wd - 1) * s - 2 * p + d * (kw - 1) + op + 1
    return full[:, :, p:p + ho, p:p + wo]


def pool_ref(x, k, s, p, reduce, pad_value, d=1):
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)), constant_values=pad_value)
    ho, wo = (x.shape[2] - d * (k - 1) - 1) // s + 1, (x.shape[3] - d * (k - 1) - 1) // s + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for y in range(ho):
        for z in range(wo):
            win = x[:, :, y * s:y * s + d * (k - 1) + 1:d, z * s:z * s + d * (k - 1) + 1:d]
            out[:, :, y, z] = reduce(win, axis=(2, 3))
    return out
