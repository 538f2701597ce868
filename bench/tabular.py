#!/usr/bin/python3
"""traind against scikit-learn's MLP on tabular data (bench/tabular.sh runs it).

For every dataset and seed, one train/test split (scikit-learn's
train_test_split, 25 % test, stratified for classes) is written to CSV as it
is, unscaled; both sides learn from the same training rows and are scored
on the same test rows:

  traind        the training rows uploaded as one dataset and the test rows
                as a second, the job's validation dataset; a one-hidden-layer
                MLP with the job's default preprocessing (numeric columns
                standardized from the training rows, text columns one-hot
                encoded); then the test rows sent raw to
                POST /v1/jobs/{id}/predict, and the score taken from those
                predictions.  The last epoch's validation metric of the job
                must agree with it (the same rows through two paths).
  glorot        the same job with "init": "glorot_uniform" in both dense
                layers (scikit-learn's initialisation; traind's default is
                he_uniform before relu).
  unscaled      the same job with "preprocess": {"standardize": false}.
  scikit-learn  StandardScaler + MLPClassifier / MLPRegressor in a Pipeline
                (a ColumnTransformer with SimpleImputer and OneHotEncoder for
                the generated table), the same hidden layer, optimizer,
                learning rate, batch size and epochs (its stop on a stalled
                training loss turned off, as traind's early stopping is
                off by default; its L2 penalty alpha is left at 1e-4,
                which changes nothing measurable here).

The datasets are scikit-learn's bundled ones (no download) and one table
made here (seeded): columns from 0.001 to 100,000 in scale, two text
columns, missing values in three columns, text class names.

Only the standard library speaks to traind (urllib); numpy and scikit-learn
are Debian's (python3-sklearn).  Prints the table.  Checks, and exits 1 when
one fails: every job runs all its epochs and succeeds; its last validation
metric (accuracy, or MSE) equals the one computed from its predictions of
the raw test rows; its fitted preprocessing (centres, scales, categories)
equals numpy's on the same training rows.

  tabular.py --url http://127.0.0.1:PORT [--seeds 0,1,2] [--datasets wine,iris] [--epochs 1000]
"""

import argparse
import json
import math
import sys
import time
import urllib.error
import urllib.request
import warnings

import numpy as np
from sklearn import datasets as skdata
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# The network and optimizer both sides train: one hidden layer of HIDDEN relu
# units, Adam, batch 32, a fixed number of epochs.  The regression set is
# small and noisy: it is trained for fewer epochs at a larger rate (more
# overfits on both sides).
HIDDEN = 64
BATCH = 32
CLASS_SETTINGS = {"epochs": 200, "lr": 0.001}
REGRESSION_SETTINGS = {"epochs": 100, "lr": 0.01}


# ---------------------------------------------------------------- the data

class Table:
    """One dataset: feature columns (numbers, or strings for text; None is
    missing), their names, the labels, and whether it is a regression."""

    def __init__(self, name, columns, rows, labels, regression=False):
        self.name = name
        self.columns = columns          # [name]
        self.rows = rows                # [[value]] in column order
        self.labels = labels            # [int | str | float]
        self.regression = regression

    def text_columns(self):
        return [j for j in range(len(self.columns))
                if any(isinstance(r[j], str) for r in self.rows)]


def bundled(name):
    if name == "diabetes":
        d = skdata.load_diabetes(scaled=False)   # raw units; the target is integer-valued
    else:
        d = getattr(skdata, "load_" + name)()
    names = [str(f) for f in d.feature_names] if getattr(d, "feature_names", None) is not None \
        else ["f%d" % j for j in range(d.data.shape[1])]
    rows = [[float(v) for v in r] for r in d.data]
    if name == "diabetes":
        labels = [int(v) for v in d.target]
        assert all(v == t for v, t in zip(labels, d.target))
        return Table(name, names, rows, labels, regression=True)
    return Table(name, names, rows, [int(v) for v in d.target])


def generated(seed=7, n=1500):
    """A customer table: income ~ 1e4..1e5, age in years, a ratio ~ 1e-3..1e-2,
    a count, two text columns; income, ratio and region have gaps.  The class
    ("stay", "leave", "upgrade") is the argmax of three scores of the
    features plus noise."""
    rng = np.random.default_rng(seed)
    regions = ["east", "north", "south", "west"]
    plans = ["basic", "plus", "pro"]
    rows, labels = [], []
    for _ in range(n):
        income = float(np.round(rng.lognormal(10.5, 0.5), 0))
        age = int(rng.integers(18, 80))
        ratio = float(np.round(rng.uniform(0.001, 0.012), 5))
        visits = int(rng.poisson(6))
        region = regions[int(rng.integers(0, 4))]
        plan = plans[min(2, int(rng.exponential(0.9)))]
        z = [(income - 40000) / 15000, (age - 49) / 18, (ratio - 0.0065) / 0.0032, (visits - 6) / 2.4]
        stay = 0.8 * z[1] + 0.6 * z[0] - 0.7 * z[2] + (0.6 if plan == "pro" else 0.0)
        leave = 1.1 * z[2] - 0.6 * z[3] + (0.7 if region == "south" else 0.0) - 0.5 * z[1] * z[0]
        upgrade = 0.9 * z[3] + 0.7 * z[0] * (1 if plan == "basic" else -0.5) + (0.5 if region == "west" else 0.0)
        scores = np.array([stay, leave, upgrade]) + rng.normal(0, 0.45, 3)
        labels.append(["stay", "leave", "upgrade"][int(np.argmax(scores))])
        if rng.random() < 0.06:
            income = None
        if rng.random() < 0.04:
            ratio = None
        if rng.random() < 0.05:
            region = None
        rows.append([income, age, ratio, visits, region, plan])
    return Table("generated", ["income", "age", "ratio", "visits", "region", "plan"], rows, labels)


def csv_text(table, idx):
    """The rows idx of table as CSV: a header, the features, the label last;
    missing values written NA (numbers) or left empty (text)."""
    text = table.text_columns()

    def field(j, v):
        if v is None:
            return "" if j in text else "NA"
        return repr(v) if isinstance(v, float) else str(v)
    lines = [",".join(table.columns + ["target" if table.regression else "label"])]
    for i in idx:
        lines.append(",".join([field(j, v) for j, v in enumerate(table.rows[i])] + [str(table.labels[i])]))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- traind

class Traind:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def call(self, method, path, body=None, content_type="application/json"):
        data = None
        headers = {}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s: %d %s" % (method, path, e.code, e.read().decode(errors="replace")))
        return json.loads(raw) if raw else None

    def upload(self, name, text):
        return self.call("POST", "/v1/datasets?name=" + name, text.encode(), "text/csv")

    def wait(self, job_id):
        """Follows the job's event stream until it closes (the job ended)."""
        req = urllib.request.Request("%s/v1/jobs/%d/events" % (self.url, job_id))
        with urllib.request.urlopen(req, timeout=600) as r:
            for _ in r:
                pass
        return self.call("GET", "/v1/jobs/%d" % job_id)


def n_features(ds):
    """What traind's default preprocessing makes of a CSV's columns."""
    return sum(len(c["categories"]) if c["type"] == "text" else 1 for c in ds["columns"])


def traind_run(api, table, ds_train, ds_test, test_idx, n_out, settings, seed, preprocess, init):
    """One job on ds_train validated on ds_test, then predict of the raw test
    rows.  Returns (score from predict, the job's last validation metric in
    the same terms (accuracy, or MSE for a regression, with the MSE of the
    predictions beside it), seconds from job creation to its end, the job)."""
    layer = {"init": init} if init != "default" else {}
    model = {
        "input": [n_features(ds_train)],
        "layers": [dict({"type": "dense", "units": HIDDEN, "activation": "relu"}, **layer),
                   dict({"type": "dense", "units": n_out,
                         "activation": "linear" if table.regression else "softmax"}, **layer)],
        "loss": "mse" if table.regression else "cross_entropy",
    }
    body = {"model": model, "dataset": ds_train["id"], "validation": {"dataset": ds_test["id"]},
            "checkpoint_every": settings["epochs"],
            "training": {"epochs": settings["epochs"], "seed": seed, "batch_size": BATCH,
                         "optimizer": {"type": "adam", "lr": settings["lr"]},
                         "preprocess": preprocess}}
    t0 = time.perf_counter()
    job = api.call("POST", "/v1/jobs", body)
    job = api.wait(job["id"])
    seconds = time.perf_counter() - t0
    if job["state"] != "succeeded" or job["last_metrics"]["epoch"] != settings["epochs"]:
        raise RuntimeError("%s job %d: %s after %s epochs (%s)" % (
            table.name, job["id"], job["state"], job["last_metrics"] and job["last_metrics"]["epoch"],
            job["error"]))
    # Raw instances: arrays in the file's order for the bundled sets, objects
    # by column name (missing values left out) for the generated table.
    if table.text_columns():
        inst = [{c: v for c, v in zip(table.columns, table.rows[i]) if v is not None} for i in test_idx]
    else:
        inst = [table.rows[i] for i in test_idx]
    pred = api.call("POST", "/v1/jobs/%d/predict" % job["id"], {"instances": inst})["predictions"]
    y = [table.labels[i] for i in test_idx]
    m = job["last_metrics"]
    if table.regression:
        p = np.array([q[0] for q in pred], dtype=float)
        score = r2(y, p)
        # the job's val_loss is the MSE over the same test rows
        agree = (float(np.mean((np.array(y, dtype=float) - p) ** 2)), m["val_loss"])
    else:
        score = sum(str(a) == b["class"] for a, b in zip(y, pred)) / len(y)
        agree = (score, m["val_accuracy"])
    return score, agree, seconds, job


def check_preprocessing(table, train_idx, job):
    """The job's fitted statistics against numpy's on the same training rows
    (float32, as a dataset stores numbers; missing values filled first, as
    scikit-learn's SimpleImputer before StandardScaler): a list of what
    differs."""
    wrong = []
    cols = job["preprocessing"]["columns"]
    for j, c in enumerate(cols):
        raw = [table.rows[i][j] for i in train_idx]
        if c["kind"] == "one_hot":
            want = sorted({v for v in raw if v is not None})
            if c["categories"] != want:
                wrong.append("%s: categories %s, not %s" % (c["name"], c["categories"], want))
            continue
        x = np.array([np.nan if v is None else v for v in raw], dtype=np.float32).astype(float)
        present = x[~np.isnan(x)]
        if np.isnan(x).any():
            x[np.isnan(x)] = float(np.float32(np.median(present)))
        want = (x.mean(), x.std() if x.std() > 0 else 1.0)
        got = (c["center"], c["scale"])
        if any(abs(g - w) > 1e-6 * max(1.0, abs(w)) for g, w in zip(got, want)):
            wrong.append("%s: center %.10g scale %.10g, numpy %.10g %.10g" % (c["name"], *got, *want))
    return wrong


def r2(y, p):
    y = np.array(y, dtype=float)
    p = np.array(p, dtype=float)
    return float(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))


# ---------------------------------------------------------------- scikit-learn

def sklearn_run(table, train_idx, test_idx, settings, seed):
    est = (MLPRegressor if table.regression else MLPClassifier)(
        hidden_layer_sizes=(HIDDEN,), activation="relu", solver="adam",
        learning_rate_init=settings["lr"], batch_size=BATCH, max_iter=settings["epochs"],
        n_iter_no_change=settings["epochs"] + 1, random_state=seed)
    text = table.text_columns()
    if text:
        num = [j for j in range(len(table.columns)) if j not in text]
        pre = ColumnTransformer([
            ("num", Pipeline([("fill", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), num),
            ("cat", Pipeline([("fill", SimpleImputer(missing_values=None, strategy="most_frequent")),
                              ("onehot", OneHotEncoder(handle_unknown="ignore"))]), text)])
        pipe = Pipeline([("pre", pre), ("mlp", est)])

        def x(idx):
            return np.array([[np.nan if (v is None and j not in text) else v
                              for j, v in enumerate(table.rows[i])] for i in idx], dtype=object)
    else:
        pipe = make_pipeline(StandardScaler(), est)

        def x(idx):
            return np.array([table.rows[i] for i in idx], dtype=float)
    ytr = [table.labels[i] for i in train_idx]
    yte = [table.labels[i] for i in test_idx]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(x(train_idx), ytr)
    seconds = time.perf_counter() - t0
    p = pipe.predict(x(test_idx))
    if table.regression:
        score = r2(yte, p)
    else:
        score = float(np.mean(np.array(p) == np.array(yte)))
    return score, seconds, est.n_iter_


# ---------------------------------------------------------------- the run

VARIANTS = (   # name, preprocess members beside the missing rule, traind's dense init
    ("traind", {}, "default"),
    ("glorot", {}, "glorot_uniform"),
    ("unscaled", {"standardize": False}, "default"),
)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--seeds", default=",".join(str(s) for s in range(10)))
    ap.add_argument("--datasets", default="wine,breast_cancer,iris,digits,diabetes,generated")
    ap.add_argument("--epochs", type=int, default=CLASS_SETTINGS["epochs"],
                    help="epochs of the classification sets (both sides)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    CLASS_SETTINGS["epochs"] = args.epochs
    api = Traind(args.url)
    bad = 0
    results = []
    print("one hidden layer of %d relu units, Adam, batch %d; classes: %d epochs at lr %g; "
          "regression: %d epochs at lr %g; 25%% test; seeds %s"
          % (HIDDEN, BATCH, CLASS_SETTINGS["epochs"], CLASS_SETTINGS["lr"],
             REGRESSION_SETTINGS["epochs"], REGRESSION_SETTINGS["lr"], args.seeds))
    for name in args.datasets.split(","):
        table = generated() if name == "generated" else bundled(name)
        settings = REGRESSION_SETTINGS if table.regression else CLASS_SETTINGS
        n_out = 1 if table.regression else len(set(table.labels))
        fill = {"missing": "median"} if any(v is None for r in table.rows for v in r) else {}
        runs = []
        for seed in seeds:
            idx = np.arange(len(table.rows))
            tr, te = train_test_split(idx, test_size=0.25, random_state=seed,
                                      stratify=None if table.regression else table.labels)
            tr, te = [int(i) for i in tr], [int(i) for i in te]
            ds_tr = api.upload("%s-train-%d" % (name, seed), csv_text(table, tr))
            ds_te = api.upload("%s-test-%d" % (name, seed), csv_text(table, te))
            got = {}
            for what, pre, init in VARIANTS:
                score, (mine, theirs), sec, job = traind_run(api, table, ds_tr, ds_te, te, n_out, settings,
                                                            seed, dict(fill, **pre), init)
                got[what] = (score, sec, job)
                # the same rows through the validation dataset and through
                # predict: the same figure (the API rounds to 10 digits)
                if theirs is None or abs(mine - theirs) > 1e-8 * max(1.0, abs(theirs)):
                    print("  MISMATCH %s seed %d %s job %d: %.10g from predict, %s in the job's metrics"
                          % (name, seed, what, job["id"], mine, theirs), file=sys.stderr)
                    bad += 1
                if "standardize" not in pre:
                    for w in check_preprocessing(table, tr, job):
                        print("  PREPROCESSING %s seed %d job %d: %s" % (name, seed, job["id"], w),
                              file=sys.stderr)
                        bad += 1
            s_s, sec_s, it_s = sklearn_run(table, tr, te, settings, seed)
            warn = len(got["unscaled"][2].get("warnings") or [])
            print("  %-13s seed %d: traind %.4f (%.2f s)  sklearn %.4f (%.2f s, %d epochs)  "
                  "glorot %.4f  unscaled %.4f (%d warning%s)"
                  % (name, seed, got["traind"][0], got["traind"][1], s_s, sec_s, it_s, got["glorot"][0],
                     got["unscaled"][0], warn, "" if warn == 1 else "s"), flush=True)
            runs.append((got["traind"][0], s_s, got["traind"][0] - s_s, got["glorot"][0],
                         got["glorot"][0] - s_s, got["unscaled"][0], got["traind"][1], sec_s))
        runs = np.array(runs)
        se = [runs[:, k].std(ddof=1) / math.sqrt(len(runs)) if len(runs) > 1 else float("nan")
              for k in (2, 4)]
        results.append((name, "R^2" if table.regression else "accuracy", len(table.rows),
                        n_features(ds_tr), runs.mean(axis=0), se))
    print()
    print("means over seeds %s (each seed its own 75/25 split; the difference is paired, "
          "with its standard error)" % args.seeds)
    print("| dataset | rows | features | metric | traind | scikit-learn | traind − sklearn "
          "| traind, glorot init (− sklearn) | traind unscaled | traind s | scikit-learn s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, metric, n, f, m, se in results:
        print("| %s | %d | %d | %s | %.4f | %.4f | %+.4f ± %.4f | %.4f (%+.4f ± %.4f) | %.4f | %.2f | %.2f |"
              % (name, n, f, metric, m[0], m[1], m[2], se[0], m[3], m[4], se[1], m[5], m[6], m[7]))
    if bad:
        print("%d disagreement(s) between a job's validation metric and its predictions, or "
              "between its preprocessing and numpy's" % bad, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
