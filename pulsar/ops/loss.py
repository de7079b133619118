"""NegativeLogLikelihoodLoss (opsets 12-22) and SoftmaxCrossEntropyLoss (opsets 12-13).

Scores are (N, C, d1, ..., dk) and targets (N, d1, ..., dk): the loss at each position is
-weight[t] * input[n, t, d...] for its target class t; a position whose target is `ignore_index`
contributes 0 with weight 0. 'mean' divides the weighted sum by the sum of the applied weights
(so ignored positions do not count); when every position is ignored that is 0/0 = NaN, as in
onnx's reference. Sums are accumulated in float64 and rounded to the input dtype.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..fact import Fact
from .attention import is_float, known_differ
from .base import Op, fail
from .registry import register

REDUCTIONS = ("none", "sum", "mean")


def check_inputs(scores, target, weight, names=("input", "target", "weight")):
    """The loss fact: target's shape for reduction 'none', else a scalar."""
    if not is_float(scores.dtype) or scores.rank < 2:
        fail(f"{names[0]} must be a float tensor (N, C, ...), got {scores}")
    if target.dtype not in (np.int32, np.int64):
        fail(f"{names[1]} must be int32 or int64, got {target}")
    want = (scores.shape[0], *scores.shape[2:])
    if target.rank != len(want) or any(known_differ(a, b) for a, b in zip(target.shape, want)):
        fail(f"{names[1]} must have shape [{','.join(map(str, want))}] to match "
             f"{names[0]} {scores}, got {target}")
    if weight is not None and (weight.dtype != scores.dtype or weight.rank != 1
                               or known_differ(weight.shape[0], scores.shape[1])):
        fail(f"{names[2]} must be {scores.dtype}[{scores.shape[1]}] (one weight per class), "
             f"got {weight}")


def nll(log_prob, target, weight, ignore_index, reduction):
    """The loss from log-probabilities (N, C, ...) and targets (N, ...)."""
    classes = log_prob.shape[1]
    if weight is not None and weight.shape != (classes,):
        fail(f"weight must hold one value per class ({classes}), got shape {list(weight.shape)}")
    ignored = np.zeros(target.shape, bool) if ignore_index is None else target == ignore_index
    stray = ~ignored & ((target < 0) | (target >= classes))
    if stray.any():
        fail(f"targets must lie in [0, {classes}) or equal ignore_index ({ignore_index}), "
             f"got {target[stray].reshape(-1)[0]}")
    safe = np.where(ignored, 0, target).astype(np.intp)
    picked = np.take_along_axis(log_prob, safe[:, None], axis=1)[:, 0]
    applied = np.ones(target.shape) if weight is None else weight[safe].astype(np.float64)
    applied[ignored] = 0
    loss = -picked.astype(np.float64) * applied
    if reduction == "none":
        return loss.astype(log_prob.dtype)
    total = loss.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / applied.sum()
    return np.asarray(total).astype(log_prob.dtype)


def log_softmax(x, axis):
    """In float32 at least (float64 for float64), rounded back to x's dtype."""
    wide = x.astype(np.float64 if x.dtype == np.float64 else np.float32)
    shifted = wide - wide.max(axis=axis, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).astype(x.dtype)


@dataclass(frozen=True)
class LossOp(Op):
    ignore_index: Optional[int] = None
    reduction: str = "mean"

    def loss_fact(self, scores, target):
        if self.reduction not in REDUCTIONS:
            fail(f"reduction must be one of {', '.join(REDUCTIONS)}, got {self.reduction!r}")
        return Fact(scores.dtype, target.shape if self.reduction == "none" else ())


@register("NegativeLogLikelihoodLoss", since=12)
@dataclass(frozen=True)
class NegativeLogLikelihoodLoss(LossOp):
    """`input` holds log-probabilities already (the op only gathers and weights them)."""

    def infer(self, inputs, ctx):
        x, target, weight = (list(inputs) + [None])[:3]
        check_inputs(x, target, weight)
        return [self.loss_fact(x, target)]

    def eval(self, x, target, weight=None):
        return (nll(x, target, weight, self.ignore_index, self.reduction),)


@register("SoftmaxCrossEntropyLoss", since=12)
@dataclass(frozen=True)
class SoftmaxCrossEntropyLoss(LossOp):
    """NLL of log_softmax(scores) over the class axis 1; the optional second output is that
    log_softmax."""

    def infer(self, inputs, ctx):
        scores, labels, weights = (list(inputs) + [None])[:3]
        check_inputs(scores, labels, weights, ("scores", "labels", "weights"))
        outs = [self.loss_fact(scores, labels), Fact(scores.dtype, scores.shape)]
        return outs[:max(1, ctx.n_outputs)]

    def eval(self, scores, labels, weights=None):
        log_prob = log_softmax(scores, axis=1)
        return nll(log_prob, labels, weights, self.ignore_index, self.reduction), log_prob
