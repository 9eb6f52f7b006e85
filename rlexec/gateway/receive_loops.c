/* The two per-message loops of the FIX receive path, in C: finding where a whole, valid
 * message ends (BodyLength, MsgType, CheckSum) and splitting it into a tag -> value map.
 *
 * In Python each walks the message field by field (~1 and ~3 µs per market-data message,
 * about a quarter of the market-data path). These are the same rules as
 * `codec._whole_message_end_py` and `codec._field_map`, which stay the reference: the tests
 * hold both to the same answers on generated, mutated and arbitrary bytes. Anything unusual
 * answers -1 or None and the Python code decides (the framer's careful path, the careful
 * field parser), so every error message and every rule for odd input lives in one place.
 * `start` is never negative here (Python would count a negative start from the end).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define SOH 1
#define MAX_TAG 9999          /* the cached tags of codec._TAG_INTS: 1..9999 */
#define MAX_BEGIN_STRING 16   /* codec.MAX_BEGIN_STRING */

/* Tags 1..MAX_TAG as int objects (no allocation per field), NULL where the tag is excluded
 * (a raw-data length: its data field may hold SOH, so the careful parser reads it). */
static PyObject *tag_ints[MAX_TAG + 1];
static int configured = 0;

static PyObject *
set_excluded_tags(PyObject *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "excluded tags must be a sequence of ints");
    if (seq == NULL)
        return NULL;
    for (long t = 1; t <= MAX_TAG; t++) {
        if (tag_ints[t] == NULL) {
            tag_ints[t] = PyLong_FromLong(t);
            if (tag_ints[t] == NULL) {
                Py_DECREF(seq);
                return NULL;
            }
        }
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        long t = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (t == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
        if (t >= 1 && t <= MAX_TAG)
            Py_CLEAR(tag_ints[t]);
    }
    Py_DECREF(seq);
    configured = 1;
    Py_RETURN_NONE;
}

/* (fields, count) as codec.parse_field_map answers it, or None for the careful path. */
static PyObject *
field_map(PyObject *self, PyObject *arg)
{
    if (!PyBytes_CheckExact(arg) || !configured)
        Py_RETURN_NONE;
    const char *p = PyBytes_AS_STRING(arg);
    Py_ssize_t size = PyBytes_GET_SIZE(arg);
    if (size == 0 || p[size - 1] != SOH)
        Py_RETURN_NONE;
    PyObject *fields = PyDict_New();
    if (fields == NULL)
        return NULL;
    Py_ssize_t pos = 0, count = 0;
    while (pos < size) {
        /* A cached tag: 1-4 digits, no leading zero, then '='. */
        long tag = 0;
        Py_ssize_t at = pos;
        while (at < size && at - pos < 5 && p[at] >= '0' && p[at] <= '9') {
            tag = tag * 10 + (p[at] - '0');
            at++;
        }
        Py_ssize_t digits = at - pos;
        if (digits == 0 || digits > 4 || p[pos] == '0' || at >= size || p[at] != '='
            || tag_ints[tag] == NULL)
            goto careful;
        Py_ssize_t start = at + 1;
        const char *soh = memchr(p + start, SOH, (size_t)(size - start));
        Py_ssize_t stop = soh - p; /* found: the message ends with SOH */
        PyObject *value = PyBytes_FromStringAndSize(p + start, stop - start);
        if (value == NULL || PyDict_SetItem(fields, tag_ints[tag], value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(fields);
            return NULL;
        }
        Py_DECREF(value);
        count++;
        pos = stop + 1;
    }
    return Py_BuildValue("(Nn)", fields, count);
careful:
    Py_DECREF(fields);
    Py_RETURN_NONE;
}

static Py_ssize_t
find_soh(const char *p, Py_ssize_t from, Py_ssize_t to)
{
    if (from >= to)
        return -1;
    const char *hit = memchr(p + from, SOH, (size_t)(to - from));
    return hit == NULL ? -1 : hit - p;
}

/* codec._whole_message_end: the end offset of the whole, valid message at `start`, else -1. */
static PyObject *
whole_message_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "whole_message_end(buf: bytes, start, size, max_body_length)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    Py_ssize_t size = PyLong_AsSsize_t(args[2]);
    Py_ssize_t max_body = PyLong_AsSsize_t(args[3]);
    if ((start == -1 || size == -1 || max_body == -1) && PyErr_Occurred())
        return NULL;
    const char *p = PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (start < 0 || start + 5 > n || memcmp(p + start, "8=FIX", 5) != 0)
        return PyLong_FromLong(-1);
    Py_ssize_t limit = start + 2 + MAX_BEGIN_STRING;
    Py_ssize_t soh = find_soh(p, start + 2, limit < n ? limit : n);
    if (soh < 0 || soh + 3 > n || p[soh + 1] != '9' || p[soh + 2] != '=')
        return PyLong_FromLong(-1);
    Py_ssize_t len_start = soh + 3;
    Py_ssize_t len_end = find_soh(p, len_start, len_start + 10 < n ? len_start + 10 : n);
    if (len_end <= len_start)
        return PyLong_FromLong(-1);
    Py_ssize_t body_length = 0;
    for (Py_ssize_t i = len_start; i < len_end; i++) {
        if (p[i] < '0' || p[i] > '9')
            return PyLong_FromLong(-1);
        body_length = body_length * 10 + (p[i] - '0');
    }
    Py_ssize_t body_end = len_end + 1 + body_length;
    Py_ssize_t end = body_end + 7;
    if (end > size || end > n || body_length > max_body || len_end + 4 > n
        || memcmp(p + len_end + 1, "35=", 3) != 0 || p[body_end - 1] != SOH)
        return PyLong_FromLong(-1);
    unsigned int sum = 0;
    const unsigned char *u = (const unsigned char *)p;
    for (Py_ssize_t i = start; i < body_end; i++)
        sum += u[i];
    sum &= 255;
    const char *c = p + body_end;
    if (c[0] != '1' || c[1] != '0' || c[2] != '=' || c[3] != '0' + (char)(sum / 100)
        || c[4] != '0' + (char)(sum / 10 % 10) || c[5] != '0' + (char)(sum % 10) || c[6] != SOH)
        return PyLong_FromLong(-1);
    return PyLong_FromSsize_t(end);
}

static PyMethodDef methods[] = {
    {"set_excluded_tags", set_excluded_tags, METH_O,
     "Tags the field map leaves to the careful parser (raw-data lengths)."},
    {"field_map", field_map, METH_O, "(fields, count) of a whole message, or None."},
    {"whole_message_end", (PyCFunction)(void (*)(void))whole_message_end, METH_FASTCALL,
     "End offset of the whole, valid message at start, else -1."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rlexec.gateway.receive_loops",
    "The FIX receive path's per-message loops in C (see codec.py).", -1, methods,
};

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

PyMODINIT_FUNC
PyInit_receive_loops(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
