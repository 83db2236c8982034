"""Reference values for tl-models' transferability scores, computed independently with NumPy.

LogME follows the authors' published implementation (You et al., ICML 2021,
github.com/thuml/LogME, `LogME.fit` with the fixed-point iteration); LEEP follows Nguyen et
al., ICML 2020, eq. (2)-(4); H-score follows Bao et al., ICIP 2019 (pseudo-inverse of the
feature covariance); the k-NN score is leave-one-out k-nearest-neighbour accuracy with
Euclidean distance, ties to the lower index, majority vote with ties to the smaller label.

Run: python3 transferability.py > transferability.json
"""
import json
import numpy as np

rng = np.random.default_rng(20261127)
n, d, classes, source_classes = 60, 6, 3, 4
labels = np.arange(n) % classes
centres = rng.normal(size=(classes, d)) * 1.5
features = centres[labels] + rng.normal(size=(n, d))
logits = rng.normal(size=(n, source_classes)) + np.eye(source_classes)[labels % source_classes] * 2.0
probs = np.exp(logits - logits.max(1, keepdims=True))
probs /= probs.sum(1, keepdims=True)


def logme(f, y):
    f = f.astype(np.float64)
    fh = f
    f = f.T
    D, N = f.shape
    v, s, vh = np.linalg.svd(f @ fh, full_matrices=True)
    evidences = []
    for c in range(y.max() + 1):
        y_ = (y == c).astype(np.float64)
        alpha, beta = 1.0, 1.0
        lam = alpha / beta
        tmp = vh @ (f @ y_)
        for _ in range(11):
            gamma = (s / (s + lam)).sum()
            m = v @ (tmp * beta / (alpha + beta * s))
            alpha_de = (m * m).sum()
            alpha = gamma / alpha_de
            beta_de = ((y_ - fh @ m) ** 2).sum()
            beta = (N - gamma) / beta_de
            new_lam = alpha / beta
            if np.abs(new_lam - lam) / lam < 0.01:
                break
            lam = new_lam
        evidence = (D / 2.0 * np.log(alpha) + N / 2.0 * np.log(beta)
                    - 0.5 * np.sum(np.log(alpha + beta * s))
                    - beta / 2.0 * beta_de - alpha / 2.0 * alpha_de
                    - N / 2.0 * np.log(2 * np.pi))
        evidences.append(evidence / N)
    return float(np.mean(evidences))


def leep(p, y):
    n = len(y)
    joint = np.zeros((y.max() + 1, p.shape[1]))
    for i in range(n):
        joint[y[i]] += p[i] / n
    cond = joint / joint.sum(0, keepdims=True)  # P(y | z)
    return float(np.mean(np.log((p @ cond.T)[np.arange(n), y])))


def hscore(f, y):
    f = f - f.mean(0)
    cov = f.T @ f / len(f)
    g = np.zeros_like(f)
    for c in range(y.max() + 1):
        g[y == c] = f[y == c].mean(0)
    cov_g = g.T @ g / len(f)
    return float(np.trace(np.linalg.pinv(cov, rcond=1e-10) @ cov_g))


def knn(f, y, k):
    n = len(y)
    dist = ((f[:, None, :] - f[None, :, :]) ** 2).sum(-1)
    correct = 0
    for i in range(n):
        order = [j for j in np.argsort(dist[i], kind="stable") if j != i][:k]
        votes = np.bincount(y[order], minlength=y.max() + 1)
        correct += int(np.argmax(votes) == y[i])
    return correct / n


print(json.dumps({
    "features": features.tolist(),
    "labels": labels.tolist(),
    "source_probs": probs.tolist(),
    "logme": logme(features, labels),
    "leep": leep(probs, labels),
    "hscore": hscore(features, labels),
    "knn5": knn(features, labels, 5),
}, indent=1))
