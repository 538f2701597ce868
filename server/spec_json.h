/*
 * spec_json.h — the JSON model definition: parsing it (jansson) into the
 * core's nn_spec and nn_train_cfg, and writing those back as canonical JSON.
 *
 * A definition is one JSON object (docs/model.md is the reference,
 * schema/model.schema.json the JSON Schema):
 *
 *   {"input": [784],
 *    "layers": [{"type": "dense", "units": 256, "activation": "relu"}, ...],
 *    "loss": "cross_entropy",
 *    "training": {"optimizer": {"type": "adam", "lr": 0.001}, "epochs": 10, ...}}
 *
 * The parser ignores nothing: an unknown key, a wrong type, a value out of
 * range or an option that does not belong to the chosen type is an error.
 * Every error names the offending value by a JSON Pointer (RFC 6901) into
 * the document — "/layers/1/units" — or, for a missing member, the pointer
 * the member would have ("/layers/0/units", message "required ...").  The
 * message says what was expected and what was found; it is plain UTF-8.
 *
 * Names (activations, layer types, inits, losses, optimizers, schedules)
 * come from the core's name tables (core/spec.c, core/optim.c).  Shape
 * inference is not done here: nn_model_new() does it, and
 * spec_json_err_from_nn() turns its error into a pointer.
 *
 * Status codes: 0 on success; NN_EFORMAT when the text is not JSON (the
 * server answers 400); NN_EINVAL when the JSON is not a valid definition
 * (422); NN_ENOMEM when memory ran out.  On failure every output is zeroed
 * (a spec is freed first) and *err says why.  err may be NULL.
 *
 * Ownership: the parse functions borrow their json_t arguments and do not
 * change them; a parsed nn_spec owns its layer array (nn_spec_free); the
 * dump functions return new references (json_decref).  No function prints
 * or keeps state, so all may be called from any thread.
 */
#ifndef SPEC_JSON_H
#define SPEC_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "nn.h"
#include "spec.h"
#include "prep.h"
#include "train.h"

/* Limits of the definition language (documented in docs/model.md). */
#define SPEC_JSON_MAX_RANK 3                  /* "input" has 1..3 dimensions */
#define SPEC_JSON_MAX_DIM (1 << 24)           /* largest input dimension */
#define SPEC_JSON_MAX_INPUT (1 << 28)         /* largest product of the input dimensions */
#define SPEC_JSON_MAX_LAYERS 256
#define SPEC_JSON_MAX_UNITS (1 << 20)         /* dense "units" */
#define SPEC_JSON_MAX_FILTERS (1 << 16)       /* conv2d "filters" */
#define SPEC_JSON_MAX_WINDOW 1024             /* conv2d "kernel", pooling "size", "stride" */
#define SPEC_JSON_MAX_PAD 1024                /* conv2d explicit "padding" */
#define SPEC_JSON_MAX_RNN_UNITS (1 << 16)     /* rnn, lstm, gru "units" */
#define SPEC_JSON_MAX_BPTT 1000000            /* rnn, lstm, gru "bptt" (steps) */
#define SPEC_JSON_MAX_BATCH 65536
#define SPEC_JSON_MAX_EPOCHS 1000000
#define SPEC_JSON_MAX_PATIENCE 1000000        /* early_stopping "patience" */
#define SPEC_JSON_MAX_STEP_SIZE 1000000       /* schedule "step_size" (epochs) */
#define SPEC_JSON_MAX_WARMUP 1000000000       /* schedule "warmup_steps" */

/* Where a definition is wrong and why.  path is a JSON Pointer ("" is the
 * whole document); msg is one sentence for a human. */
typedef struct spec_json_err {
    char path[256];
    char msg[512];   /* room for the list of every layer type and a quoted value */
} spec_json_err;

/* Parses the model part of a definition object — "input", "layers",
 * "loss" — into *spec (overwritten; free it with nn_spec_free).  A
 * "training" member is allowed but left to spec_json_parse_training.
 * Every option is resolved into the struct: a conv2d's stride defaults to
 * 1, 1 and a pooling layer's to its window, so stride is never 0 after
 * parsing; an rnn's activation defaults to tanh (act is NN_ACT_TANH or
 * NN_ACT_RELU, never linear, after parsing; lstm and gru leave act linear,
 * unused).  Checks that need no data are done here too: "same" padding
 * needs stride 1, and the last layer must suit the loss (before
 * cross_entropy or binary_cross_entropy it must be dense, conv2d or a
 * standalone activation, ending in softmax resp. sigmoid or in linear; as
 * nn_model_new's rule: so not a recurrent layer, whose output is no
 * logits; a dense layer follows it). */
int spec_json_parse_model(const json_t *doc, nn_spec *spec, spec_json_err *err);

/* Parses a "training" object into *cfg, which starts from
 * nn_train_cfg_default(); absent members keep those defaults.  training may
 * be NULL (all defaults).  base_path is the pointer of the object itself,
 * used as the prefix of error paths ("/training"; NULL means ""). */
int spec_json_parse_training(const json_t *training, const char *base_path, nn_train_cfg *cfg,
                             spec_json_err *err);

/* The "preprocess" member of a training object (absent, or training NULL:
 * the defaults) into *prep (caller frees with nn_prep_cfg_free):
 *   {"standardize": true | false | "auto", "min_max": bool,
 *    "categorical": "auto" | ["column", ...],
 *    "missing": "error" | "mean" | "median"
 *             | {"numeric": "error" | "mean" | "median",
 *                "categorical": "error" | "most_frequent" | "category"}}
 * The string form of "missing" sets numeric columns' rule, and categorical
 * columns then take their most frequent category ("error" keeps errors).
 * spec_json_parse_training checks the member too (and leaves it out of
 * nn_train_cfg, which owns no memory). */
int spec_json_parse_preprocess(const json_t *training, const char *base_path, nn_prep_cfg *prep,
                               spec_json_err *err);

/* Both of the above on a whole definition object.  cfg may be NULL (the
 * "training" member is still checked). */
int spec_json_parse_doc(const json_t *doc, nn_spec *spec, nn_train_cfg *cfg, spec_json_err *err);

/* Decodes len bytes of JSON text (duplicate keys are an error) and parses
 * them with spec_json_parse_doc.  Malformed text gives NN_EFORMAT, path ""
 * and jansson's line and column in msg.  cfg may be NULL. */
int spec_json_parse_text(const char *text, size_t len, nn_spec *spec, nn_train_cfg *cfg,
                         spec_json_err *err);

/* The canonical JSON of a spec / a training configuration: every option
 * explicit (defaults resolved, e.g. leaky_relu's alpha NAN becomes 0.01, a
 * stride 0 becomes 1 for conv2d and the window for pooling, an rnn's linear
 * act becomes tanh, as the core reads them), kernel, size and stride as
 * [height, width], padding as "valid", "same" or [rows, cols],
 * return_sequences as a boolean, bptt as an integer (0: full
 * backpropagation through time), options that are off written as null
 * (clip_norm, target_loss, max_seconds, early_stopping), and only the
 * options of the chosen layer type, optimizer and schedule.  Parsing the
 * result gives back the same struct (with defaults resolved), and dumping
 * that gives equal JSON.  Returns a new reference (the caller json_decref()s
 * it), or NULL when memory runs out or an enum is out of range (so is an
 * rnn's activation other than tanh or relu, an lstm's or gru's other than
 * linear, a negative bptt and a seed above 2^63 - 1: what the core
 * refuses). */
json_t *spec_json_dump_model(const nn_spec *spec);
json_t *spec_json_dump_training(const nn_train_cfg *cfg);

/* Flags for json_dumps() of a dumped definition: compact, and reals with 15
 * significant digits, so that a value a user typed (0.1) is written back as
 * typed rather than as 0.10000000000000001; every decimal of up to 15 digits
 * survives the trip through a double and back. */
#define SPEC_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* The canonical "preprocess" object (every member explicit), and a
 * training object with it (prep NULL: the defaults).  New references. */
json_t *spec_json_dump_preprocess(const nn_prep_cfg *prep);
json_t *spec_json_dump_training_prep(const nn_train_cfg *cfg, const nn_prep_cfg *prep);

/* The model's canonical JSON with a "training" member when cfg is not
 * NULL (its "preprocess" from prep; NULL: the defaults).  New reference,
 * as above. */
json_t *spec_json_dump(const nn_spec *spec, const nn_train_cfg *cfg);
json_t *spec_json_dump_prep(const nn_spec *spec, const nn_train_cfg *cfg, const nn_prep_cfg *prep);

/* Turns a core error (nn_model_new's layer index and field) into a pointer:
 * "/layers/<layer>/<field>", "/layers/<layer>" without a field, "/<field>"
 * for layer -1 with a field (e.g. "loss", "input"), "" otherwise; copies the
 * message. */
void spec_json_err_from_nn(const nn_err *e, spec_json_err *err);

#endif
