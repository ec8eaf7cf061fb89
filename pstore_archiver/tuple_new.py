"""Pure: the `__new__` of a named tuple of 0 to 25 fields, compiled ahead of time.

`typing_lite` takes `new<N>` for a class of N fields and renames its parameters to the
fields.  Written out here, they are compiled when the package is installed (into its .pyc):
compiling one at run time takes about 100 us, and `run` meets ten numbers of fields.
The letters stand for the fields, in order (no `l`, which reads as a one).
"""

from __future__ import annotations

_t = tuple.__new__


def new0(_):
    return _t(_, ())


def new1(_, a):
    return _t(_, (a,))


def new2(_, a, b):
    return _t(_, (a, b))


def new3(_, a, b, c):
    return _t(_, (a, b, c))


def new4(_, a, b, c, d):
    return _t(_, (a, b, c, d))


def new5(_, a, b, c, d, e):
    return _t(_, (a, b, c, d, e))


def new6(_, a, b, c, d, e, f):
    return _t(_, (a, b, c, d, e, f))


def new7(_, a, b, c, d, e, f, g):
    return _t(_, (a, b, c, d, e, f, g))


def new8(_, a, b, c, d, e, f, g, h):
    return _t(_, (a, b, c, d, e, f, g, h))


def new9(_, a, b, c, d, e, f, g, h, i):
    return _t(_, (a, b, c, d, e, f, g, h, i))


def new10(_, a, b, c, d, e, f, g, h, i, j):
    return _t(_, (a, b, c, d, e, f, g, h, i, j))


def new11(_, a, b, c, d, e, f, g, h, i, j, k):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k))


def new12(_, a, b, c, d, e, f, g, h, i, j, k, m):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m))


def new13(_, a, b, c, d, e, f, g, h, i, j, k, m, n):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n))


def new14(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o))


def new15(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p))


def new16(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q))


def new17(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r))


def new18(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s))


def new19(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t))


def new20(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u))


def new21(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v))


def new22(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v, w):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v, w))


def new23(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v, w, x):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v, w, x))


def new24(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v, w, x, y):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v, w, x, y))


def new25(_, a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v, w, x, y, z):
    return _t(_, (a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q, r, s, t, u, v, w, x, y, z))
