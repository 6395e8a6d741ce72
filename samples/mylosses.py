"""A loss class of the user's own code, as docs/training.md trains with it
(`from mylosses import FocalLoss`)."""

import torch
import torch.nn.functional as F
from torch import nn


class FocalLoss(nn.Module):
    """Cross-entropy that down-weights the examples the model already gets right."""

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        return (-((1 - log_p.exp()) ** self.gamma) * log_p).mean()
