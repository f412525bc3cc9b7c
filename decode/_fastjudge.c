/* The class judge in compiled code (see decode/class_judge.py).
 *
 * A full mask judges hundreds of lexical classes at a new place by feeding their
 * tokens through copies of the layout post-lexer, the LALR recognizer and the item
 * rules. In Python each feed costs a few microseconds, which is what a cold mask
 * spends its time on. This module holds the same three machines over compact
 * arrays, mirroring elmgrammar/layout.py (Layout), decode/recognizer.py (_run) and
 * decode/state.py (ItemRules.feed) step by step, including which stack entries
 * each step reads (the "watch": how far down the two stacks a verdict consulted).
 * The Python classes stay the reference: `elmgrammar bench exact` and the tests
 * compare the masks judged here with the one-by-one judgement over them.
 *
 * Core:  the parse table, the token types' roles, the classes' first tokens by group
 *        and their spelled tokens (made once per FastMasker).
 * Judge: one base state; its `verdicts` are ClassJudge.verdicts: first answers by
 *        group, then classes of several tokens fed whole, sharing the states after
 *        common starts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* layout stack kinds: the blocks first */
enum { K_TOP, K_LET, K_CASE, K_PAR, K_BRACK, K_BRACE, K_IF, K_THEN, K_CASEQ, K_COUNT };
static const char *KIND_NAMES[K_COUNT] = {"top", "let", "case", "(", "[", "{", "if", "then", "case?"};
#define IS_BLOCK(k) ((k) <= K_CASE)

/* where the top level is (ItemRules.top) */
enum { P_START, P_HEADER, P_MODULE_DOC, P_IMPORTS, P_INFIXES, P_DOC, P_DECLS, P_COUNT };
static const char *TOP_NAMES[P_COUNT] = {"start", "header", "module_doc", "imports", "infixes", "doc", "decls"};

/* the token types this code tells apart, looked up by name in the Core's types */
enum {
    R_LPAR, R_LBRACK, R_LBRACE, R_RPAR, R_LONE_RPAR, R_RBRACK, R_RBRACE, R_COMMA, R_IN, R_THEN,
    R_ELSE, R_OF, R_IF, R_CASE, R_LET, R_D, R_SEP, R_CLOSE, R_LOWER, R_COLON, R_PORT, R_MODULE,
    R_INFIX, R_DOC, R_IMPORT, R_EFFECT, R_DOTFIELD, R_ACCESSOR, R_OP, R_ALIAS, R_COUNT
};
static const char *ROLE_NAMES[R_COUNT] = {
    "LPAR", "LBRACK", "LBRACE", "RPAR", "LONE_RPAR", "RBRACK", "RBRACE", "COMMA", "IN", "THEN",
    "ELSE", "OF", "IF", "CASE", "LET", "_D", "_SEP", "_CLOSE", "LOWER", "COLON", "PORT", "MODULE",
    "INFIX", "DOC", "IMPORT", "EFFECT", "DOTFIELD", "ACCESSOR", "OP", "ALIAS"};
#define MAXC 16  /* the most types a first token may take */

typedef struct { int kind, indent; } LEntry;
/* an open block of the item rules: the awaited name, the item's first token, whether an item starts */
typedef struct { PyObject *awaited; int first; PyObject *first_value; int pending; } RBlock;

typedef struct {
    int nl, nr, nb, cl, cr, cb;
    int pend_kind, pend_min;  /* pend_kind -1: nothing pending */
    int top;
    LEntry *layout;
    int *lalr;
    RBlock *blocks;
} State;

typedef struct {
    PyObject_HEAD
    int nterms, nstates;
    int ntypes;          /* types: the table's terminals first, then names it lacks */
    int32_t *act;        /* [state * nterms + type]: 0 error, > 0 shift to act - 1, < 0 reduce rule -act - 1 */
    int32_t *gotos;      /* [state * nnonterms + nonterminal] */
    int nnonterms;
    int *popped, *lhs;   /* per rule */
    int role[R_COUNT];   /* type id of each role */
    char *ender;         /* per type: ends blocks by what it is */
    /* the spelled classes: the rests' trie, and per class its sequel */
    int nrests;
    int *rest_parent, *rest_type, *rest_pk, *rest_pa, *rest_pb;
    int nclasses;
    int *cls_rest, *cls_fragile, *cls_names, *cls_tail;  /* cls_tail: -1 none, else index of its tail */
    int *tail_pk, *tail_pa, *tail_pb, *tail_alt_start, *tail_alt_end;  /* per tail: place; its alternatives */
    int *alt_start, *alt_len, *alt_types;  /* per alternative: its types in alt_types */
    /* the classes' first tokens, by group: placement (same line: a columns on;
       next lines: at column a), types, flags (alias, effect, infix, field, negation) */
    int ngroups;
    int *g_nl, *g_a, *g_types_start, *g_ntypes, *g_types, *g_flags;
    PyObject *x;         /* the value of synthetic tokens */
    PyObject *assoc[3];  /* left, right, non */
    int *vbuf; int vcap; /* the virtual tokens of one feed */
} Core;

typedef struct { uint64_t key; State *state; int low, llow; int used; } Slot;

/* what a group's first token may be here (ClassJudge._first, _opening, _fits) */
typedef struct {
    int placed;          /* 0 not yet, 1 done, -1 its column is unknown */
    int col, newline, bucket, n;
    int cand[MAXC];
    int opened, open_low, open_llow;   /* _opening, where open_done */
    int open_done, fit_done;
    int nfirst, firsts[MAXC], fit_low, fit_llow;
} Group;

typedef struct { int known, ok, low, llow; } Answer;

typedef struct {
    PyObject_HEAD
    Core *core;
    State base;
    int top, ltop;       /* the base's top indexes */
    PyObject *keep;      /* the strings the states point at */
    PyObject *other, *awaited;
    Slot *slots; int nslots, used;
    State scratch;
    /* the context of first tokens (ClassJudge._first) */
    int cursor_col;      /* -1: unknown (after a line comment) */
    int gap, field_target, expression_end, after_type, after_lpar, first_item, declared;
    int ncrit, *crit;    /* the indents layout compares columns with, sorted */
    Group *groups;
    Answer *answers;     /* by (bucket, type) */
    int nbuckets;
} Judge;

/* ---------- states ---------- */

static int reserve(void **arr, int *cap, int need, size_t size) {
    if (need <= *cap) return 0;
    int cap2 = need + 16;
    void *p = PyMem_Realloc(*arr, cap2 * size);
    if (!p) { PyErr_NoMemory(); return -1; }
    *arr = p; *cap = cap2;
    return 0;
}

static int state_copy(State *dst, const State *src) {
    if (reserve((void **)&dst->layout, &dst->cl, src->nl + 4, sizeof(LEntry)) ||
        reserve((void **)&dst->lalr, &dst->cr, src->nr + 8, sizeof(int)) ||
        reserve((void **)&dst->blocks, &dst->cb, src->nb + 4, sizeof(RBlock)))
        return -1;
    dst->nl = src->nl; dst->nr = src->nr; dst->nb = src->nb;
    dst->pend_kind = src->pend_kind; dst->pend_min = src->pend_min; dst->top = src->top;
    memcpy(dst->layout, src->layout, src->nl * sizeof(LEntry));
    memcpy(dst->lalr, src->lalr, src->nr * sizeof(int));
    memcpy(dst->blocks, src->blocks, src->nb * sizeof(RBlock));
    return 0;
}

static void state_free(State *s) {
    PyMem_Free(s->layout); PyMem_Free(s->lalr); PyMem_Free(s->blocks);
    s->layout = NULL; s->lalr = NULL; s->blocks = NULL; s->cl = s->cr = s->cb = 0;
}

/* ---------- the layout (elmgrammar/layout.py) ---------- */

static inline LEntry l_top(State *s, int *llow) {  /* Layout._top: a read of the top */
    if (s->nl - 1 < *llow) *llow = s->nl - 1;
    return s->layout[s->nl - 1];
}

static inline int l_indent(const State *s) {  /* Layout.indent: not watched */
    for (int i = s->nl - 1; i >= 0; i--)
        if (IS_BLOCK(s->layout[i].kind)) return s->layout[i].indent;
    return 0;
}

static inline int l_push(State *s, int kind, int indent) {
    if (reserve((void **)&s->layout, &s->cl, s->nl + 1, sizeof(LEntry))) return -1;
    s->layout[s->nl].kind = kind; s->layout[s->nl].indent = indent; s->nl++;
    return 0;
}

static int closer_kind(const Core *c, int t) {
    if (t == c->role[R_RPAR] || t == c->role[R_LONE_RPAR]) return K_PAR;
    if (t == c->role[R_RBRACK]) return K_BRACK;
    if (t == c->role[R_RBRACE]) return K_BRACE;
    return -1;
}

/* Layout._after: open what the token opens; -1 on no memory */
static int l_after(const Core *c, State *s, int t, int col) {
    const int *r = c->role;
    if (t == r[R_LPAR]) return l_push(s, K_PAR, 0);
    if (t == r[R_LBRACK]) return l_push(s, K_BRACK, 0);
    if (t == r[R_LBRACE]) return l_push(s, K_BRACE, 0);
    if (t == r[R_IF]) return l_push(s, K_IF, 0);
    if (t == r[R_CASE]) return l_push(s, K_CASEQ, 0);
    if (t == r[R_LET]) { s->pend_kind = K_LET; s->pend_min = col; }
    else if (t == r[R_OF]) { s->pend_kind = K_CASE; s->pend_min = l_indent(s); }
    return 0;
}

/* Layout.process: the types to give the parser (in c->vbuf) for one real token;
   returns their count, 0 where the layout rejects it, -1 on no memory */
static int l_process(Core *c, State *s, int t, int col, int *llow) {
    if (reserve((void **)&c->vbuf, &c->vcap, s->nl + 2, sizeof(int))) return -1;
    int *out = c->vbuf, n = 0;
    const int *r = c->role;
    if (s->pend_kind >= 0) {
        int kind = s->pend_kind, minimum = s->pend_min;
        s->pend_kind = -1;
        if (!c->ender[t]) {
            if (col <= minimum || col <= 1) return 0;
            if (l_push(s, kind, col) || l_after(c, s, t, col)) return -1;
            out[n++] = t;
            return n;
        }
    }
    if (c->ender[t]) {  /* Layout._end_blocks */
        if (t == r[R_IN]) {
            while (l_top(s, llow).kind == K_CASE && s->nl > 1) { s->nl--; out[n++] = r[R_CLOSE]; }
            if (l_top(s, llow).kind == K_LET) { s->nl--; out[n++] = r[R_CLOSE]; }
        } else {
            while (1) {
                int k = l_top(s, llow).kind;
                if (!((k == K_LET || k == K_CASE) && s->nl > 1)) break;
                s->nl--; out[n++] = r[R_CLOSE];
            }
        }
        int closer = closer_kind(c, t);
        if (closer >= 0) {
            if (l_top(s, llow).kind == closer) s->nl--;
        } else if (t == r[R_THEN]) {
            if (l_top(s, llow).kind == K_IF) { s->layout[s->nl - 1].kind = K_THEN; s->layout[s->nl - 1].indent = 0; }
        } else if (t == r[R_ELSE]) {
            if (l_top(s, llow).kind == K_THEN) s->nl--;
        } else if (t == r[R_OF]) {
            if (l_top(s, llow).kind == K_CASEQ) s->nl--;
        }
        if (col <= l_indent(s)) return 0;
    } else {
        while (1) {
            LEntry e = l_top(s, llow);
            if (IS_BLOCK(e.kind)) {
                if (col < e.indent) { s->nl--; out[n++] = r[R_CLOSE]; continue; }
                if (col == e.indent) out[n++] = e.kind == K_TOP ? r[R_D] : r[R_SEP];
                break;
            }
            if (col <= l_indent(s)) return 0;
            break;
        }
    }
    if (l_after(c, s, t, col)) return -1;
    out[n++] = t;
    return n;
}

/* ---------- the recognizer (decode/recognizer.py, _run) ---------- */

static int r_feed(const Core *c, State *s, int t, int *low) {
    if (t >= c->nterms) return 0;
    while (1) {
        int32_t a = c->act[s->lalr[s->nr - 1] * c->nterms + t];
        if (a == 0) return 0;
        if (a > 0) {
            if (reserve((void **)&s->lalr, &s->cr, s->nr + 1, sizeof(int))) return -1;
            s->lalr[s->nr++] = a - 1;
            return 1;
        }
        int rule = -a - 1, popped = c->popped[rule];
        if (popped) {
            s->nr -= popped;
            if (s->nr - 1 < *low) *low = s->nr - 1;
        }
        if (reserve((void **)&s->lalr, &s->cr, s->nr + 1, sizeof(int))) return -1;
        s->lalr[s->nr] = c->gotos[s->lalr[s->nr - 1] * c->nnonterms + c->lhs[rule]];
        s->nr++;
    }
}

/* ---------- the item rules (decode/state.py, ItemRules.feed) ---------- */

static int starts(PyObject *whole, PyObject *part) {  /* whole.startswith(part); -1 on error */
    return (int)PyUnicode_Tailmatch(whole, part, 0, PY_SSIZE_T_MAX, -1);
}

static int same(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    int r = PyUnicode_Compare(a, b);
    if (r == -1 && PyErr_Occurred()) return -1;
    return r == 0;
}

/* 1 fits, 0 breaks a rule, -1 on error */
static int top_item(const Core *c, State *s, int t) {
    const int *r = c->role;
    if (t == r[R_DOC]) {
        if (s->top == P_HEADER) s->top = P_MODULE_DOC;
        else if (s->top == P_DOC) return 0;
        else s->top = P_DOC;
    } else if (t == r[R_IMPORT]) {
        if (s->top == P_DOC || s->top == P_DECLS || s->top == P_INFIXES) return 0;
        s->top = P_IMPORTS;
    } else if (t == r[R_MODULE] || t == r[R_EFFECT]) {
        s->top = P_HEADER;
    } else if (t == r[R_INFIX]) {
        s->top = P_INFIXES;
    } else {
        s->top = P_DECLS;
    }
    return 1;
}

static int rules_feed(const Core *c, State *s, int t, PyObject *value, int partial) {
    const int *r = c->role;
    if (t == r[R_D] || t == r[R_SEP]) { s->blocks[s->nb - 1].pending = 1; return 1; }
    if (t == r[R_CLOSE]) { if (s->nb > 1) s->nb--; return 1; }
    RBlock *b = &s->blocks[s->nb - 1];
    if (b->pending) {
        b->pending = 0;
        PyObject *awaited = b->awaited;
        b->awaited = NULL;
        if (awaited) {
            int ok = 0;
            if (t == r[R_LOWER]) {
                ok = partial ? starts(awaited, value) : same(value, awaited);
                if (ok < 0) return -1;
            }
            if (!ok) return 0;
        }
        b->first = t; b->first_value = value;
        if (s->nb == 1) {
            int fits = top_item(c, s, t);
            if (fits <= 0) return fits;
        }
    } else if (b->first >= 0) {
        int first = b->first;
        PyObject *first_value = b->first_value;
        b->first = -1; b->first_value = NULL;
        if (t == r[R_COLON] && first == r[R_LOWER]) {
            b->awaited = first_value;
        } else if (first == r[R_PORT] && t == r[R_MODULE]) {
            s->top = P_HEADER;
        } else if (first == r[R_INFIX] && t == r[R_LOWER]) {
            int any = 0;
            for (int i = 0; i < 3 && !any; i++) {
                any = partial ? starts(c->assoc[i], value) : same(c->assoc[i], value);
                if (any < 0) return -1;
            }
            if (!any) return 0;
        }
    }
    if (t == r[R_LET] || t == r[R_OF]) {
        if (reserve((void **)&s->blocks, &s->cb, s->nb + 1, sizeof(RBlock))) return -1;
        RBlock *nb = &s->blocks[s->nb++];
        nb->awaited = NULL; nb->first = -1; nb->first_value = NULL; nb->pending = t == r[R_LET];
    }
    return 1;
}

/* ---------- one token through all three (decode/state.py, _feeds) ---------- */

static int feed(Core *c, State *s, int t, int col, PyObject *value, int partial, int *low, int *llow) {
    int n = l_process(c, s, t, col, llow);
    if (n <= 0) return n;
    for (int i = 0; i < n; i++) {
        int v = c->vbuf[i];
        int ok = r_feed(c, s, v, low);
        if (ok <= 0) return ok;
        ok = rules_feed(c, s, v, v == t && i == n - 1 ? value : c->x, partial);
        if (ok <= 0) return ok;
    }
    return 1;
}

/* ---------- Core ---------- */

static void Core_dealloc(Core *c) {
    PyMem_Free(c->act); PyMem_Free(c->gotos); PyMem_Free(c->popped); PyMem_Free(c->lhs); PyMem_Free(c->ender);
    PyMem_Free(c->rest_parent); PyMem_Free(c->rest_type); PyMem_Free(c->rest_pk); PyMem_Free(c->rest_pa);
    PyMem_Free(c->rest_pb); PyMem_Free(c->cls_rest); PyMem_Free(c->cls_fragile); PyMem_Free(c->cls_names);
    PyMem_Free(c->cls_tail); PyMem_Free(c->tail_pk); PyMem_Free(c->tail_pa); PyMem_Free(c->tail_pb);
    PyMem_Free(c->tail_alt_start); PyMem_Free(c->tail_alt_end); PyMem_Free(c->alt_start); PyMem_Free(c->alt_len);
    PyMem_Free(c->alt_types); PyMem_Free(c->vbuf);
    PyMem_Free(c->g_nl); PyMem_Free(c->g_a); PyMem_Free(c->g_types_start); PyMem_Free(c->g_ntypes);
    PyMem_Free(c->g_types); PyMem_Free(c->g_flags);
    Py_XDECREF(c->x);
    for (int i = 0; i < 3; i++) Py_XDECREF(c->assoc[i]);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int *int_array(PyObject *seq, Py_ssize_t *n) {  /* a Python sequence of ints as a C array */
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of ints");
    if (!fast) return NULL;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(fast);
    int *out = PyMem_Malloc((len + 1) * sizeof(int));
    if (!out) { Py_DECREF(fast); PyErr_NoMemory(); return NULL; }
    for (Py_ssize_t i = 0; i < len; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) { Py_DECREF(fast); PyMem_Free(out); return NULL; }
        out[i] = (int)v;
    }
    Py_DECREF(fast);
    if (n) *n = len;
    return out;
}

/* Core(nterms, types, act, gotos, nnonterms, popped, lhs, rests, classes, tails, alternatives, groups)
   types: names, the table's terminals first; act, gotos: flat ints as above;
   rests: 5 sequences (parent, type, place kind, place a, place b);
   classes: 4 sequences (rest, fragile, names, tail or -1);
   tails: 5 sequences (place kind, a, b, first alternative, end of alternatives);
   alternatives: 3 sequences (start, length, types flat);
   groups: 6 sequences (on a next line, a, types start, types count, types flat, flags as bits). */
static int Core_init(Core *c, PyObject *args, PyObject *kw) {
    PyObject *types, *act, *gotos, *popped, *lhs, *rests, *classes, *tails, *alts, *groups;
    if (!PyArg_ParseTuple(args, "iOOOiOOOOOOO", &c->nterms, &types, &act, &gotos, &c->nnonterms, &popped, &lhs,
                          &rests, &classes, &tails, &alts, &groups))
        return -1;
    Py_ssize_t n;
    c->ntypes = (int)PySequence_Size(types);
    if (c->ntypes < 0) return -1;
    if (!(c->act = (int32_t *)int_array(act, &n))) return -1;
    c->nstates = (int)(n / c->nterms);
    if (!(c->gotos = (int32_t *)int_array(gotos, NULL)) || !(c->popped = int_array(popped, NULL)) ||
        !(c->lhs = int_array(lhs, NULL)))
        return -1;
    for (int k = 0; k < R_COUNT; k++) c->role[k] = -1;
    for (int i = 0; i < c->ntypes; i++) {
        PyObject *name = PySequence_GetItem(types, i);
        if (!name) return -1;
        for (int k = 0; k < R_COUNT; k++)
            if (PyUnicode_CompareWithASCIIString(name, ROLE_NAMES[k]) == 0) c->role[k] = i;
        Py_DECREF(name);
    }
    for (int k = 0; k < R_COUNT; k++)
        if (c->role[k] < 0) { PyErr_Format(PyExc_ValueError, "type %s missing", ROLE_NAMES[k]); return -1; }
    if (!(c->ender = PyMem_Calloc(c->ntypes, 1))) { PyErr_NoMemory(); return -1; }
    static const int enders[] = {R_RPAR, R_LONE_RPAR, R_RBRACK, R_RBRACE, R_COMMA, R_IN, R_THEN, R_ELSE, R_OF};
    for (size_t i = 0; i < sizeof enders / sizeof *enders; i++) c->ender[c->role[enders[i]]] = 1;
    PyObject *r[5], *k[4], *t[5], *a[3];
    if (!PyArg_ParseTuple(rests, "OOOOO", &r[0], &r[1], &r[2], &r[3], &r[4]) ||
        !PyArg_ParseTuple(classes, "OOOO", &k[0], &k[1], &k[2], &k[3]) ||
        !PyArg_ParseTuple(tails, "OOOOO", &t[0], &t[1], &t[2], &t[3], &t[4]) ||
        !PyArg_ParseTuple(alts, "OOO", &a[0], &a[1], &a[2]))
        return -1;
    Py_ssize_t nr, nk;
    if (!(c->rest_parent = int_array(r[0], &nr)) || !(c->rest_type = int_array(r[1], NULL)) ||
        !(c->rest_pk = int_array(r[2], NULL)) || !(c->rest_pa = int_array(r[3], NULL)) ||
        !(c->rest_pb = int_array(r[4], NULL)) || !(c->cls_rest = int_array(k[0], &nk)) ||
        !(c->cls_fragile = int_array(k[1], NULL)) || !(c->cls_names = int_array(k[2], NULL)) ||
        !(c->cls_tail = int_array(k[3], NULL)) || !(c->tail_pk = int_array(t[0], NULL)) ||
        !(c->tail_pa = int_array(t[1], NULL)) || !(c->tail_pb = int_array(t[2], NULL)) ||
        !(c->tail_alt_start = int_array(t[3], NULL)) || !(c->tail_alt_end = int_array(t[4], NULL)) ||
        !(c->alt_start = int_array(a[0], NULL)) || !(c->alt_len = int_array(a[1], NULL)) ||
        !(c->alt_types = int_array(a[2], NULL)))
        return -1;
    c->nrests = (int)nr; c->nclasses = (int)nk;
    for (int i = 0; i < c->nclasses; i++)
        if (c->cls_rest[i] >= c->nrests) { PyErr_SetString(PyExc_ValueError, "a class's rest out of range"); return -1; }
    for (int i = 1; i < c->nrests; i++)
        if (c->rest_parent[i] < 0 || c->rest_parent[i] >= i) { PyErr_SetString(PyExc_ValueError, "a rest's parent out of range"); return -1; }
    PyObject *g[6];
    Py_ssize_t ng;
    if (!PyArg_ParseTuple(groups, "OOOOOO", &g[0], &g[1], &g[2], &g[3], &g[4], &g[5]) ||
        !(c->g_nl = int_array(g[0], &ng)) || !(c->g_a = int_array(g[1], NULL)) ||
        !(c->g_types_start = int_array(g[2], NULL)) || !(c->g_ntypes = int_array(g[3], NULL)) ||
        !(c->g_types = int_array(g[4], NULL)) || !(c->g_flags = int_array(g[5], NULL)))
        return -1;
    c->ngroups = (int)ng;
    for (int i = 0; i < c->ngroups; i++)
        if (c->g_ntypes[i] + 4 > MAXC) { PyErr_SetString(PyExc_ValueError, "a group with too many types"); return -1; }  /* _first adds up to 4 */
    if (!(c->x = PyUnicode_FromString("x")) || !(c->assoc[0] = PyUnicode_FromString("left")) ||
        !(c->assoc[1] = PyUnicode_FromString("right")) || !(c->assoc[2] = PyUnicode_FromString("non")))
        return -1;
    return 0;
}

static PyTypeObject JudgeType;

static int lookup(const char **names, int count, PyObject *name) {
    for (int i = 0; i < count; i++)
        if (PyUnicode_CompareWithASCIIString(name, names[i]) == 0) return i;
    PyErr_Format(PyExc_ValueError, "unknown name %R", name);
    return -1;
}

static int keep(Judge *j, PyObject *value) {  /* hold a string the states point at */
    return PyList_Append(j->keep, value);
}

/* Core.judge(layout_stack, pending, lalr_stack, rule_blocks, top, other, awaited, context):
   a Judge of the state they make (the Python objects' fields). rule_blocks: per
   block (awaited name or None, first token's type id or -1, its value or None, pending);
   context: (cursor column or -1, gap, after a field target, after an expression's end,
   after `type`, after `(`, the first item, declared), as ClassJudge._first reads them. */
static PyObject *Core_judge(Core *c, PyObject *args) {
    PyObject *lstack, *pending, *rstack, *rblocks, *top, *other, *awaited;
    int ctx[8];
    if (!PyArg_ParseTuple(args, "OOOOOOO(iiiiiiii)", &lstack, &pending, &rstack, &rblocks, &top, &other,
                          &awaited, &ctx[0], &ctx[1], &ctx[2], &ctx[3], &ctx[4], &ctx[5], &ctx[6], &ctx[7]))
        return NULL;
    Judge *j = PyObject_New(Judge, &JudgeType);
    if (!j) return NULL;
    memset((char *)j + sizeof(PyObject), 0, sizeof(Judge) - sizeof(PyObject));
    Py_INCREF(c); j->core = c;
    Py_INCREF(other); j->other = other;
    Py_INCREF(awaited); j->awaited = awaited;
    if (!(j->keep = PyList_New(0))) goto fail;
    State *s = &j->base;
    Py_ssize_t nl = PySequence_Size(lstack), nr = PySequence_Size(rstack), nb = PySequence_Size(rblocks);
    if (nl < 1 || nr < 1 || nb < 1) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "empty stack"); goto fail; }
    if (reserve((void **)&s->layout, &s->cl, (int)nl + 4, sizeof(LEntry)) ||
        reserve((void **)&s->lalr, &s->cr, (int)nr + 8, sizeof(int)) ||
        reserve((void **)&s->blocks, &s->cb, (int)nb + 4, sizeof(RBlock)))
        goto fail;
    for (Py_ssize_t i = 0; i < nl; i++) {
        PyObject *e = PySequence_GetItem(lstack, i);
        PyObject *kind = e ? PySequence_GetItem(e, 0) : NULL, *indent = e ? PySequence_GetItem(e, 1) : NULL;
        int ok = kind && indent && (s->layout[i].kind = lookup(KIND_NAMES, K_COUNT, kind)) >= 0 &&
                 ((s->layout[i].indent = (int)PyLong_AsLong(indent)) != -1 || !PyErr_Occurred());
        Py_XDECREF(e); Py_XDECREF(kind); Py_XDECREF(indent);
        if (!ok) goto fail;
    }
    s->nl = (int)nl;
    s->pend_kind = -1;
    if (pending != Py_None) {
        PyObject *kind = PySequence_GetItem(pending, 0), *minimum = PySequence_GetItem(pending, 1);
        int ok = kind && minimum && (s->pend_kind = lookup(KIND_NAMES, K_COUNT, kind)) >= 0 &&
                 ((s->pend_min = (int)PyLong_AsLong(minimum)) != -1 || !PyErr_Occurred());
        Py_XDECREF(kind); Py_XDECREF(minimum);
        if (!ok) goto fail;
    }
    for (Py_ssize_t i = 0; i < nr; i++) {
        PyObject *e = PySequence_GetItem(rstack, i);
        if (!e) goto fail;
        long v = PyLong_AsLong(e);
        Py_DECREF(e);
        if (v == -1 && PyErr_Occurred()) goto fail;
        if (v < 0 || v >= c->nstates) { PyErr_SetString(PyExc_ValueError, "no such LALR state"); goto fail; }
        s->lalr[i] = (int)v;
    }
    s->nr = (int)nr;
    for (Py_ssize_t i = 0; i < nb; i++) {
        PyObject *aw, *fv;
        int first, pend;
        PyObject *e = PySequence_GetItem(rblocks, i);
        if (!e) goto fail;
        int ok = PyArg_ParseTuple(e, "OiOp", &aw, &first, &fv, &pend);
        if (ok) {
            RBlock *b = &s->blocks[i];
            b->awaited = aw == Py_None ? NULL : aw;
            b->first = first;
            b->first_value = fv == Py_None ? NULL : fv;
            b->pending = pend;
            ok = (aw == Py_None || keep(j, aw) == 0) && (fv == Py_None || keep(j, fv) == 0);
        }
        Py_DECREF(e);
        if (!ok) goto fail;
    }
    s->nb = (int)nb;
    if ((s->top = lookup(TOP_NAMES, P_COUNT, top)) < 0) goto fail;
    j->top = s->nr - 1;
    j->ltop = s->nl - 1;
    j->cursor_col = ctx[0]; j->gap = ctx[1]; j->field_target = ctx[2]; j->expression_end = ctx[3];
    j->after_type = ctx[4]; j->after_lpar = ctx[5]; j->first_item = ctx[6]; j->declared = ctx[7];
    /* the indents of the open blocks, 1 and the pending block's minimum, sorted (ClassJudge.critical) */
    if (!(j->crit = PyMem_Malloc((s->nl + 2) * sizeof(int)))) { PyErr_NoMemory(); goto fail; }
    int *crit = j->crit, ncrit = 0;
    crit[ncrit++] = 1;
    if (s->pend_kind >= 0) crit[ncrit++] = s->pend_min;
    for (int i = 0; i < s->nl; i++)
        if (IS_BLOCK(s->layout[i].kind)) crit[ncrit++] = s->layout[i].indent;
    for (int i = 1; i < ncrit; i++)  /* insertion sort, then unique (in place) */
        for (int k = i; k > 0 && crit[k - 1] > crit[k]; k--) { int tmp = crit[k]; crit[k] = crit[k - 1]; crit[k - 1] = tmp; }
    for (int i = 0; i < ncrit; i++)
        if (j->ncrit == 0 || crit[j->ncrit - 1] != crit[i]) crit[j->ncrit++] = crit[i];
    j->nbuckets = 2 * j->ncrit + 2;
    if (!(j->groups = PyMem_Calloc(c->ngroups ? c->ngroups : 1, sizeof(Group))) ||
        !(j->answers = PyMem_Calloc((size_t)j->nbuckets * c->ntypes, sizeof(Answer)))) {
        PyErr_NoMemory();
        goto fail;
    }
    return (PyObject *)j;
fail:
    Py_DECREF(j);
    return NULL;
}

static PyMethodDef Core_methods[] = {
    {"judge", (PyCFunction)Core_judge, METH_VARARGS, "A Judge of one base state."},
    {NULL}};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "elmgrammar.decode._fastjudge.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The parse table, the token types' roles and the spelled classes.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Core_init,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
};

/* ---------- Judge ---------- */

static void Judge_dealloc(Judge *j) {
    for (int i = 0; i < j->nslots; i++)
        if (j->slots[i].used && j->slots[i].state) { state_free(j->slots[i].state); PyMem_Free(j->slots[i].state); }
    PyMem_Free(j->slots);
    PyMem_Free(j->groups);
    PyMem_Free(j->answers);
    PyMem_Free(j->crit);
    state_free(&j->base);
    state_free(&j->scratch);
    Py_XDECREF(j->keep); Py_XDECREF(j->other); Py_XDECREF(j->awaited);
    Py_XDECREF(j->core);
    PyObject_Free(j);
}

/* a copy of `from` with one token fed (NULL in *out if it does not fit); the lows are lowered */
static int fed(Judge *j, const State *from, int t, int col, PyObject *value, int partial, State *into,
               int *low, int *llow) {
    int lo = j->top, llo = j->ltop;
    if (state_copy(into, from)) return -1;
    int ok = feed(j->core, into, t, col, value, partial, &lo, &llo);
    if (lo < *low) *low = lo;
    if (llo < *llow) *llow = llo;
    return ok;
}

/* ClassJudge._accepts: 1 if a token of type t at col may come next, 0 if not, 2 if
   it depends on the name; the lowest stack indexes it read lower *low, *llow. -1 on error */
static int accepts(Judge *j, int t, int col, int *low, int *llow) {
    int ok = fed(j, &j->base, t, col, j->other, 1, &j->scratch, low, llow);
    if (ok) return ok;
    if (t == j->core->role[R_LOWER] && j->awaited != Py_None) {
        ok = fed(j, &j->base, t, col, j->awaited, 1, &j->scratch, low, llow);
        return ok < 0 ? -1 : ok ? 2 : 0;
    }
    return 0;
}

/* ClassJudge._bucket: where col falls among the indents (its rank, and whether it is one) */
static int bucket_of(const Judge *j, int col) {
    int i = 0;
    while (i < j->ncrit && j->crit[i] < col) i++;
    return 2 * i + (i < j->ncrit && j->crit[i] == col);
}

/* ClassJudge._answer: cached by (bucket, type); NULL on error */
static Answer *answer(Judge *j, int bucket, int t, int col) {
    Answer *a = &j->answers[bucket * j->core->ntypes + t];
    if (!a->known) {
        int low = j->top, llow = j->ltop;
        int ok = accepts(j, t, col, &low, &llow);
        if (ok < 0) return NULL;
        a->known = 1; a->ok = ok; a->low = low; a->llow = llow;
    }
    return a;
}

static int has(const int *types, int n, int t) {
    for (int i = 0; i < n; i++)
        if (types[i] == t) return 1;
    return 0;
}

/* ClassJudge._first: the types group g's first token may take here, its column,
   whether it starts a line (g->placed -1 where its column is unknown) */
static Group *placed(Judge *j, int g) {
    Group *p = &j->groups[g];
    if (p->placed) return p;
    const Core *c = j->core;
    const int *r = c->role;
    int a = c->g_a[g], flags = c->g_flags[g];
    if (c->g_nl[g]) { p->col = a; p->newline = 1; }
    else if (j->cursor_col < 0) { p->placed = -1; return p; }
    else { p->col = j->cursor_col + a; p->newline = 0; }
    int gap = j->gap || a > 0 || p->newline;
    int n = 0, *cand = p->cand;
    const int *types = c->g_types + c->g_types_start[g];
    for (int i = 0; i < c->g_ntypes[g]; i++) cand[n++] = types[i];
    int alias = flags & 1, effect = flags & 2, infix = flags & 4, field = flags & 8, negation = flags & 16;
    if (field) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (cand[i] != r[R_DOTFIELD] && cand[i] != r[R_ACCESSOR]) cand[k++] = cand[i];
        n = k;
        cand[n++] = !gap && j->field_target ? r[R_DOTFIELD] : r[R_ACCESSOR];
    }
    if (negation && !gap && j->expression_end) { cand[0] = r[R_OP]; n = 1; }  /* `a-x` is a subtraction */
    if (alias && j->after_type) cand[n++] = r[R_ALIAS];
    if (effect && j->first_item) cand[n++] = r[R_EFFECT];
    if (infix && p->col == 1 && !j->declared) cand[n++] = r[R_INFIX];
    if (has(cand, n, r[R_RPAR]) && gap && j->after_lpar) { cand[0] = r[R_LONE_RPAR]; n = 1; }  /* `( )` */
    p->n = n;
    p->bucket = bucket_of(j, p->col);
    p->placed = 1;
    return p;
}

/* ClassJudge._opening (open_done) and ._fits (fit_done) of group g; NULL on error */
static Group *tried(Judge *j, int g, int until_allowed) {
    Group *p = placed(j, g);
    if (p->placed < 0 || (until_allowed ? p->open_done : p->fit_done)) return p;
    int low = j->top, llow = j->ltop, best = 0, nfirst = 0;
    for (int i = 0; i < p->n; i++) {
        Answer *a = answer(j, p->bucket, p->cand[i], p->col);
        if (!a) return NULL;
        if (a->low < low) low = a->low;
        if (a->llow < llow) llow = a->llow;
        if (a->ok != 0) p->firsts[nfirst++] = p->cand[i];
        if (a->ok > best) best = a->ok;
        if (a->ok == 1 && until_allowed) break;
    }
    if (until_allowed) {
        p->opened = best; p->open_low = low; p->open_llow = llow; p->open_done = 1;
    } else {
        p->nfirst = nfirst; p->fit_low = low; p->fit_llow = llow; p->fit_done = 1;
    }
    return p;
}

static inline uint64_t slot_key(int bucket, int first, int rest) {
    return ((uint64_t)(uint32_t)bucket << 44) ^ ((uint64_t)(uint32_t)first << 32) ^ (uint64_t)(uint32_t)rest;
}

static Slot *slot_find(Judge *j, uint64_t key) {  /* the slot of key, used or free to fill */
    if (j->used * 2 >= j->nslots) {
        int n2 = j->nslots ? j->nslots * 2 : 1024;
        Slot *old = j->slots, *fresh = PyMem_Calloc(n2, sizeof(Slot));
        if (!fresh) { PyErr_NoMemory(); return NULL; }
        for (int i = 0; i < j->nslots; i++)
            if (old[i].used) {
                uint64_t h = old[i].key * 0x9E3779B97F4A7C15ull;
                int p = (int)(h >> 40) & (n2 - 1);
                while (fresh[p].used) p = (p + 1) & (n2 - 1);
                fresh[p] = old[i];
            }
        PyMem_Free(old);
        j->slots = fresh; j->nslots = n2;
    }
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    int p = (int)(h >> 40) & (j->nslots - 1);
    while (j->slots[p].used && j->slots[p].key != key) p = (p + 1) & (j->nslots - 1);
    return &j->slots[p];
}

/* class_judge._place, of which only the column matters here: layout compares
   columns, and lines only tell which tokens start one (their columns say) */
static int place(int kind, int a, int b, int col) {
    return kind == 0 ? col + a : b;
}

/* ClassJudge._after: the state after the first token and the tokens of `rest` */
static Slot *after(Judge *j, int bucket, int first, int col, int rest) {
    Core *c = j->core;
    uint64_t key = slot_key(bucket, first, rest);
    Slot *slot = slot_find(j, key);
    if (!slot || slot->used) return slot;
    const State *parent;
    int low, llow, t, tcol;
    if (rest) {
        Slot *up = after(j, bucket, first, col, c->rest_parent[rest]);
        if (!up) return NULL;
        parent = up->state; low = up->low; llow = up->llow;
        tcol = place(c->rest_pk[rest], c->rest_pa[rest], c->rest_pb[rest], col);
        t = c->rest_type[rest];
        slot = slot_find(j, key);  /* the table may have grown */
        if (!slot) return NULL;
    } else {
        parent = &j->base; low = j->top; llow = j->ltop;
        t = first; tcol = col;
    }
    State *child = NULL;
    if (parent) {
        child = PyMem_Calloc(1, sizeof(State));
        if (!child) { PyErr_NoMemory(); return NULL; }
        int ok = fed(j, parent, t, tcol, c->x, 0, child, &low, &llow);
        if (ok <= 0) {
            state_free(child); PyMem_Free(child); child = NULL;
            if (ok < 0) return NULL;
        }
    }
    slot->key = key; slot->state = child; slot->low = low; slot->llow = llow; slot->used = 1;
    j->used++;
    return slot;
}

/* ClassJudge.sequences for class k, of group p (its opening worked out): *verdict,
   *low, *llow; -1 on error */
static int sequence(Judge *j, Group *p, int k, int *verdict, int *low, int *llow) {
    Core *c = j->core;
    if (p->placed < 0) {  /* the first token's column is unknown (after a line comment) */
        *verdict = 2; *low = j->top; *llow = j->ltop;
        return 0;
    }
    if (!p->fit_done && !tried(j, (int)(p - j->groups), 0)) return -1;
    int awaits = j->awaited != Py_None;
    int by_value = awaits && has(p->firsts, p->nfirst, c->role[R_LOWER]);  /* a name judged by value */
    if (c->cls_fragile[k] || (awaits && (by_value || c->cls_names[k]))) {
        *verdict = 2; *low = p->open_low; *llow = p->open_llow;
        return 0;
    }
    int v = 0, lo_all = p->open_low < p->fit_low ? p->open_low : p->fit_low;
    int llo_all = p->open_llow < p->fit_llow ? p->open_llow : p->fit_llow;
    int tail = c->cls_tail[k];
    for (int f = 0; f < p->nfirst && !v; f++) {
        Slot *slot = after(j, p->bucket, p->firsts[f], p->col, c->cls_rest[k]);
        if (!slot) return -1;
        if (slot->low < lo_all) lo_all = slot->low;
        if (slot->llow < llo_all) llo_all = slot->llow;
        if (!slot->state) continue;
        if (tail < 0) { v = 1; break; }
        int cl = place(c->tail_pk[tail], c->tail_pa[tail], c->tail_pb[tail], p->col);
        for (int alt = c->tail_alt_start[tail]; alt < c->tail_alt_end[tail] && !v; alt++) {
            int lo = j->top, llo = j->ltop, ok = 1;
            if (state_copy(&j->scratch, slot->state)) return -1;
            for (int i = 0; i < c->alt_len[alt] && ok > 0; i++)
                ok = feed(c, &j->scratch, c->alt_types[c->alt_start[alt] + i], cl + i, c->x, 1, &lo, &llo);
            if (ok < 0) return -1;
            if (lo < lo_all) lo_all = lo;
            if (llo < llo_all) llo_all = llo;
            if (ok) v = 1;
        }
    }
    *verdict = v; *low = lo_all; *llow = llo_all;
    return 0;
}

static int int32_buffer(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != 4 || !view->format || (strcmp(view->format, "i") && strcmp(view->format, "=i") &&
                                                  strcmp(view->format, "<i"))) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError, "expected a buffer of int32");
        return -1;
    }
    return 0;
}

/* Judge.verdicts(classes, groups): ClassJudge.verdicts (int32 buffers in; out, bytes
   of int32 triples) */
static PyObject *Judge_verdicts(Judge *j, PyObject *args) {
    PyObject *classes_obj, *groups_obj, *out = NULL;
    if (!PyArg_ParseTuple(args, "OO", &classes_obj, &groups_obj)) return NULL;
    Py_buffer cv, gv;
    if (int32_buffer(classes_obj, &cv)) return NULL;
    if (int32_buffer(groups_obj, &gv)) { PyBuffer_Release(&cv); return NULL; }
    Py_ssize_t n = cv.len / 4;
    const int32_t *classes = cv.buf, *groups = gv.buf;
    Core *c = j->core;
    if (gv.len != cv.len) { PyErr_SetString(PyExc_ValueError, "classes and groups differ in length"); goto done; }
    if (!(out = PyBytes_FromStringAndSize(NULL, n * 3 * sizeof(int32_t)))) goto done;
    int32_t *res = (int32_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        int k = classes[i], g = groups[i];
        if (g < 0 || g >= c->ngroups || k < 0) { PyErr_SetString(PyExc_ValueError, "no such class or group"); goto fail; }
        Group *p = tried(j, g, 1);
        if (!p) goto fail;
        int verdict, low, llow;
        if (p->placed < 0) { verdict = 2; low = j->top; llow = j->ltop; }
        else { verdict = p->opened; low = p->open_low; llow = p->open_llow; }
        if (verdict != 0 && k < c->nclasses && c->cls_rest[k] >= 0 && sequence(j, p, k, &verdict, &low, &llow))
            goto fail;
        res[3 * i] = verdict; res[3 * i + 1] = low; res[3 * i + 2] = llow;
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyBuffer_Release(&cv);
    PyBuffer_Release(&gv);
    return out;
}

static PyMethodDef Judge_methods[] = {
    {"verdicts", (PyCFunction)Judge_verdicts, METH_VARARGS,
     "verdicts(classes, groups) -> bytes of int32 (verdict, low, layout low) per class."},
    {NULL}};

static PyTypeObject JudgeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "elmgrammar.decode._fastjudge.Judge",
    .tp_basicsize = sizeof(Judge),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Judges classes against one base state.",
    .tp_dealloc = (destructor)Judge_dealloc,
    .tp_methods = Judge_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastjudge",
    "The class judge's token feeding (layout, LALR, item rules) in compiled code.", -1, NULL};

PyMODINIT_FUNC PyInit__fastjudge(void) {
    if (PyType_Ready(&CoreType) < 0 || PyType_Ready(&JudgeType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) { Py_DECREF(&CoreType); Py_DECREF(m); return NULL; }
    return m;
}
