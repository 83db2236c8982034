"""Reference MIG and SAP on tl-disentangle's fixture, as disentanglement_lib computes them.

The fixture is a formula (both sides compute it): sample i has factors
(i % 3, (i // 3) % 5, (7 i) % 4) and codes
(f0 + 0.3 sin i, 0.5 f1 + 0.2 cos 1.7i, sin 0.37i, f2 + 0.5 f0 + 0.1 sin 2.3i), as float32;
samples 0..1000 train, 1000..1500 test. MIG uses disentanglement_lib's `_histogram_discretize`
(20 bins) and sklearn's `mutual_info_score`; SAP (discrete factors) fits
`LinearSVC(C=0.01, class_weight="balanced")` per (code, factor) on train and scores test.

    python3 -m venv venv && venv/bin/pip install numpy scikit-learn
    venv/bin/python scripts/disentangle_reference.py
"""
import numpy as np
from sklearn import metrics, svm


def fixture(start, stop):
    i = np.arange(start, stop, dtype=np.float64)
    k = np.arange(start, stop)
    f = np.stack([k % 3, (k // 3) % 5, (7 * k) % 4])
    c = np.stack([
        f[0] + 0.3 * np.sin(i),
        0.5 * f[1] + 0.2 * np.cos(1.7 * i),
        np.sin(0.37 * i),
        f[2] + 0.5 * f[0] + 0.1 * np.sin(2.3 * i),
    ]).astype(np.float32).astype(np.float64)
    return c, f


def discretize(target, num_bins=20):
    out = np.zeros_like(target, dtype=np.int64)
    for i in range(target.shape[0]):
        out[i, :] = np.digitize(target[i, :], np.histogram(target[i, :], num_bins)[1][:-1])
    return out


def mig(mus, ys):
    d = discretize(mus)
    m = np.array([[metrics.mutual_info_score(ys[j, :], d[i, :]) for j in range(ys.shape[0])]
                  for i in range(d.shape[0])])
    h = np.array([metrics.mutual_info_score(ys[j, :], ys[j, :]) for j in range(ys.shape[0])])
    s = np.sort(m, axis=0)[::-1]
    return np.mean((s[0, :] - s[1, :]) / h)


def sap(mus, ys, mus_test, ys_test):
    scores = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            clf = svm.LinearSVC(C=0.01, class_weight="balanced")
            clf.fit(mus[i, :][:, np.newaxis], ys[j, :])
            scores[i, j] = np.mean(clf.predict(mus_test[i, :][:, np.newaxis]) == ys_test[j, :])
    s = np.sort(scores, axis=0)
    return np.mean(s[-1, :] - s[-2, :])


c, f = fixture(0, 1000)
ct, ft = fixture(1000, 1500)
print(f"MIG {mig(c, f):.10f}")
print(f"SAP {sap(c, f, ct, ft):.10f}")
