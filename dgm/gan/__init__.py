"""Generative adversarial networks: a generator g and a critic d, trained as two players.

A GAN defines no density; the critic measures a distance between model and data (Jensen-Shannon
for the original game). Models live in `gan.py`, the pure loss functions in `losses.py`, the
registered two-player objectives in `objectives.py`.
"""
