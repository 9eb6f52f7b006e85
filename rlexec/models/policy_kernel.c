/* The execution policy's forward pass in C: the observation normalised as `contract.Normaliser`
 * does it, then the model's dense layers (Gemm, then tanh or relu or nothing), then the argmax.
 *
 * The shipped policy is an 11 -> 64 -> 64 -> 15 MLP: about 5,900 multiply-adds, well under a
 * microsecond of arithmetic. One ONNX Runtime run of it costs ~4-6 us in a tight loop and two
 * to three times that inside the live chain, where the rest of the tick evicts the runtime's
 * much larger working set (its code, its arena, its plan). This kernel touches 24 KB of
 * weights and a few hundred bytes of code. `policy_layers` reads the layers out of the ONNX
 * graph, and `OnnxPolicy` only uses the kernel after it has agreed with ONNX Runtime on probe
 * observations: onnxruntime stays the reference and the fallback.
 *
 * Arithmetic: float32 throughout, like the graph. Each layer is accumulated input by input
 * over a transposed weight matrix (out[j] += x[i] * w[i][j]), so every output sums its terms
 * in one fixed order and the inner loop vectorises without reordering a sum. The results are
 * within float32 rounding of onnxruntime's (whose GEMM blocks the sums differently and whose
 * tanh is a polynomial), not bit for bit; the tests bound the difference and hold the actions
 * on real observations to be the same.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <string.h>

#define ACT_NONE 0
#define ACT_TANH 1
#define ACT_RELU 2
#define MAX_WIDTH 4096    /* outputs of a layer */
#define MAX_FEATURES 1024 /* inputs of the first layer: an observation is far smaller */

typedef struct {
    int n_in, n_out, activation;
    float *wt;   /* n_in x n_out, row i = the weights input i contributes to each output */
    float *bias; /* n_out */
} Layer;

typedef struct {
    PyObject_HEAD
    int n_features, n_layers, max_width;
    Layer *layers;
    float *mean, *inv_std;
    float clip;
    float *a, *b; /* two activation buffers of max_width */
    Py_ssize_t imputed;
} DenseNet;

static void
dense_free_arrays(DenseNet *self)
{
    if (self->layers != NULL) {
        for (int k = 0; k < self->n_layers; k++) {
            PyMem_Free(self->layers[k].wt);
            PyMem_Free(self->layers[k].bias);
        }
        PyMem_Free(self->layers);
        self->layers = NULL;
    }
    PyMem_Free(self->mean);
    PyMem_Free(self->inv_std);
    PyMem_Free(self->a);
    PyMem_Free(self->b);
    self->mean = self->inv_std = self->a = self->b = NULL;
    self->n_layers = 0;
}

static void
dense_dealloc(DenseNet *self)
{
    dense_free_arrays(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A copy of a float32 buffer of exactly n values, or NULL with ValueError naming `what`. */
static float *
float_copy(PyObject *obj, Py_ssize_t n, const char *what)
{
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len != n * (Py_ssize_t)sizeof(float)) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd float32 values",
                     what, view.len, n);
        PyBuffer_Release(&view);
        return NULL;
    }
    float *copy = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (copy == NULL) {
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(copy, view.buf, (size_t)n * sizeof(float));
    PyBuffer_Release(&view);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!isfinite(copy[i])) {
            PyErr_Format(PyExc_ValueError, "%s: value %zd is not finite", what, i);
            PyMem_Free(copy);
            return NULL;
        }
    }
    return copy;
}

/* DenseNet(mean, inv_std, clip, layers): layers = [(weights_in_major, bias, n_in, n_out,
 * activation), ...], float32 bytes; each layer's n_in is the previous one's n_out.
 * Built aside and installed at the end, once: the arguments' conversions can run Python code,
 * and a net in use never sees its arrays swapped or freed. */
static int
dense_init(DenseNet *self, PyObject *args, PyObject *kwds)
{
    PyObject *mean, *inv_std, *layers;
    double clip;
    static char *kwlist[] = {"mean", "inv_std", "clip", "layers", NULL};
    if (self->layers != NULL) {
        PyErr_SetString(PyExc_TypeError, "a DenseNet is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "SSdO:DenseNet", kwlist, &mean, &inv_std,
                                     &clip, &layers))
        return -1;
    if (!(isfinite(clip) && clip > 0)) {
        PyErr_SetString(PyExc_ValueError, "clip must be finite and positive");
        return -1;
    }
    PyObject *seq = PySequence_Fast(layers, "layers must be a sequence of tuples");
    if (seq == NULL)
        return -1;
    DenseNet built;
    memset(&built, 0, sizeof(built));
    Py_ssize_t n_layers = PySequence_Fast_GET_SIZE(seq);
    if (n_layers < 1 || n_layers > 64) {
        PyErr_SetString(PyExc_ValueError, "a policy needs 1 to 64 layers");
        goto fail;
    }
    Py_ssize_t n_features = PyBytes_GET_SIZE(mean) / (Py_ssize_t)sizeof(float);
    if (n_features < 1 || n_features > MAX_FEATURES) {
        PyErr_SetString(PyExc_ValueError, "mean: 1 to 1024 float32 features expected");
        goto fail;
    }
    built.clip = (float)clip;
    built.n_features = (int)n_features;
    built.mean = float_copy(mean, n_features, "mean");
    if (built.mean == NULL)
        goto fail;
    built.inv_std = float_copy(inv_std, n_features, "inv_std");
    if (built.inv_std == NULL)
        goto fail;
    built.layers = PyMem_Calloc((size_t)n_layers, sizeof(Layer));
    if (built.layers == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    built.n_layers = (int)n_layers;
    int width = (int)n_features, max_width = (int)n_features;
    for (Py_ssize_t k = 0; k < n_layers; k++) {
        PyObject *w, *bias, *item = PySequence_Fast_GET_ITEM(seq, k);
        int n_in, n_out, activation;
        if (!PyTuple_Check(item)) {
            PyErr_Format(PyExc_TypeError, "layer %zd: a tuple (weights, bias, n_in, n_out, "
                         "activation) expected", k);
            goto fail;
        }
        if (!PyArg_ParseTuple(item, "SSiii:layer", &w, &bias, &n_in, &n_out, &activation))
            goto fail;
        if (n_in != width || n_out < 1 || n_out > MAX_WIDTH) {
            PyErr_Format(PyExc_ValueError, "layer %zd: %d -> %d after a width of %d", k, n_in,
                         n_out, width);
            goto fail;
        }
        if (activation != ACT_NONE && activation != ACT_TANH && activation != ACT_RELU) {
            PyErr_Format(PyExc_ValueError, "layer %zd: unknown activation %d", k, activation);
            goto fail;
        }
        Layer *layer = &built.layers[k];
        layer->n_in = n_in;
        layer->n_out = n_out;
        layer->activation = activation;
        layer->wt = float_copy(w, (Py_ssize_t)n_in * n_out, "weights");
        if (layer->wt == NULL)
            goto fail;
        layer->bias = float_copy(bias, n_out, "bias");
        if (layer->bias == NULL)
            goto fail;
        width = n_out;
        if (n_out > max_width)
            max_width = n_out;
    }
    built.max_width = max_width;
    built.a = PyMem_Calloc((size_t)max_width, sizeof(float));
    built.b = PyMem_Calloc((size_t)max_width, sizeof(float));
    if (built.a == NULL || built.b == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    if (self->layers != NULL) { /* initialised meanwhile, from Python code run above */
        PyErr_SetString(PyExc_TypeError, "a DenseNet is initialised once");
        goto fail;
    }
    Py_DECREF(seq);
    self->n_features = built.n_features;
    self->n_layers = built.n_layers;
    self->max_width = built.max_width;
    self->mean = built.mean;
    self->inv_std = built.inv_std;
    self->clip = built.clip;
    self->a = built.a;
    self->b = built.b;
    self->layers = built.layers; /* last: non-NULL means usable */
    return 0;
fail:
    Py_DECREF(seq);
    dense_free_arrays(&built);
    return -1;
}

/* Every item as a double, in a buffer of its own; NULL with an exception set. Read from a
 * tuple of the items, which holds them while a conversion's Python code may change `seq`. */
static double *
converted(PyObject *seq, Py_ssize_t n)
{
    PyObject *items = PySequence_Tuple(seq);
    if (items == NULL)
        return NULL;
    double *values = PyMem_Malloc((size_t)n * sizeof(double));
    if (values == NULL) {
        Py_DECREF(items);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        values[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(items, i));
        if (values[i] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(items);
            PyMem_Free(values);
            return NULL;
        }
    }
    Py_DECREF(items);
    return values;
}

/* `Normaliser.into` into `a`, from exact floats (`items`) or doubles (`values`): the value as
 * float32, minus the mean, times 1/std, NaN -> 0 (its mean), +-inf -> +-clip, then clipped.
 * Answers how many values were not finite. */
static Py_ssize_t
normalise(DenseNet *self, PyObject **items, const double *values, Py_ssize_t n)
{
    float *x = self->a;
    const float clip = self->clip;
    Py_ssize_t imputed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const double v = values == NULL ? PyFloat_AS_DOUBLE(items[i]) : values[i];
        float f;
        if (isnan(v)) {
            imputed++;
            f = 0.0f;
        } else {
            if (isinf(v))
                imputed++;
            f = ((float)v - self->mean[i]) * self->inv_std[i]; /* +-inf stays +-inf */
            f = f > clip ? clip : (f < -clip ? -clip : f);
        }
        x[i] = f;
    }
    return imputed;
}

static const float *layers_forward(DenseNet *self, int *status);

/* The scores of one observation, or NULL: -1 with an exception set, -2 for a wrong length.
 * Normalisation is `Normaliser.into`'s: the value as float32, minus the mean, times 1/std,
 * NaN -> 0 (its mean), +-inf -> +-clip, then clipped; `imputed` counts the values that
 * were not finite. */
static const float *
forward(DenseNet *self, PyObject *observation, int *status)
{
    if (self->layers == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "DenseNet not initialised");
        *status = -1;
        return NULL;
    }
    PyObject *seq = PySequence_Fast(observation, "an observation is a sequence of floats");
    if (seq == NULL) {
        *status = -1;
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != self->n_features) {
        Py_DECREF(seq);
        *status = -2;
        return NULL;
    }
    /* A list of floats (the service's observations) is read as it is normalised: reading a
     * float runs no Python code. Anything else is converted first (`converted`): a conversion
     * can run Python code (an item's __float__, a collection) that may call this net again and
     * reuse its buffers, or change the sequence. */
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyFloat_CheckExact(items[i])) {
            double *values = converted(seq, n);
            Py_DECREF(seq);
            if (values == NULL) {
                *status = -1;
                return NULL;
            }
            self->imputed = normalise(self, NULL, values, n);
            PyMem_Free(values);
            return layers_forward(self, status);
        }
    }
    self->imputed = normalise(self, items, NULL, n);
    Py_DECREF(seq);
    return layers_forward(self, status);
}

/* The dense layers over the normalised observation in `a`; the scores (in `a` or `b`). */
static const float *
layers_forward(DenseNet *self, int *status)
{
    float *in = self->a, *out = self->b;
    for (int k = 0; k < self->n_layers; k++) {
        const Layer *layer = &self->layers[k];
        const int n_out = layer->n_out;
        memcpy(out, layer->bias, (size_t)n_out * sizeof(float));
        for (int i = 0; i < layer->n_in; i++) {
            const float xi = in[i];
            const float *w = layer->wt + (size_t)i * n_out;
            for (int j = 0; j < n_out; j++)
                out[j] += xi * w[j];
        }
        if (layer->activation == ACT_TANH) {
            for (int j = 0; j < n_out; j++)
                out[j] = tanhf(out[j]);
        } else if (layer->activation == ACT_RELU) {
            for (int j = 0; j < n_out; j++)
                out[j] = out[j] < 0.0f ? 0.0f : out[j]; /* NaN and -0 pass, as in ONNX */
        }
        float *t = in;
        in = out;
        out = t;
    }
    *status = 0;
    return in;
}

static int
n_scores(DenseNet *self)
{
    return self->layers[self->n_layers - 1].n_out;
}

static PyObject *
dense_argmax(DenseNet *self, PyObject *observation)
{
    int status;
    const float *scores = forward(self, observation, &status);
    if (scores == NULL)
        return status == -2 ? PyLong_FromLong(-1) : NULL;
    const int n = n_scores(self);
    int best = 0;
    for (int j = 0; j < n; j++) {
        if (!isfinite(scores[j]))
            return PyLong_FromLong(-1);
        if (scores[j] > scores[best])
            best = j; /* the first best, as numpy's argmax and list.index(max(...)) */
    }
    return PyLong_FromLong(best);
}

static PyObject *
dense_scores(DenseNet *self, PyObject *observation)
{
    int status;
    const float *scores = forward(self, observation, &status);
    if (scores == NULL) {
        if (status == -2)
            Py_RETURN_NONE;
        return NULL;
    }
    /* Copied before any allocation: a collection it triggers may run Python code that calls
     * this net again and overwrites its buffers. */
    const int n = n_scores(self);
    float copy[MAX_WIDTH];
    memcpy(copy, scores, (size_t)n * sizeof(float));
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (int j = 0; j < n; j++) {
        PyObject *value = PyFloat_FromDouble((double)copy[j]);
        if (value == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, j, value);
    }
    return list;
}

static PyObject *
dense_get_outputs(DenseNet *self, void *closure)
{
    return PyLong_FromLong(self->layers == NULL ? 0 : n_scores(self));
}

static PyMethodDef dense_methods[] = {
    {"argmax", (PyCFunction)dense_argmax, METH_O,
     "Index of the first best score; -1 for an observation of the wrong length or a score "
     "that is not finite."},
    {"scores", (PyCFunction)dense_scores, METH_O,
     "The scores as floats, or None for an observation of the wrong length."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef dense_members[] = {
    {"imputed", T_PYSSIZET, offsetof(DenseNet, imputed), READONLY,
     "Values of the last observation that were not finite (imputed at their mean or clipped)."},
    {"features", T_INT, offsetof(DenseNet, n_features), READONLY, "Inputs per observation."},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef dense_getset[] = {
    {"outputs", (getter)dense_get_outputs, NULL, "Scores per observation.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject DenseNetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rlexec.models.policy_kernel.DenseNet",
    .tp_basicsize = sizeof(DenseNet),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A dense policy network, normalisation in front: argmax or scores per observation.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)dense_init,
    .tp_dealloc = (destructor)dense_dealloc,
    .tp_methods = dense_methods,
    .tp_members = dense_members,
    .tp_getset = dense_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rlexec.models.policy_kernel",
    "The execution policy's forward pass in C (see policy_kernel.c).", -1, NULL,
};

PyMODINIT_FUNC
PyInit_policy_kernel(void)
{
    if (PyType_Ready(&DenseNetType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&DenseNetType);
    if (PyModule_AddObject(m, "DenseNet", (PyObject *)&DenseNetType) < 0) {
        Py_DECREF(&DenseNetType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "NONE", ACT_NONE) < 0
        || PyModule_AddIntConstant(m, "TANH", ACT_TANH) < 0
        || PyModule_AddIntConstant(m, "RELU", ACT_RELU) < 0
        || PyModule_AddStringConstant(m, "SOURCE_SHA256", SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
