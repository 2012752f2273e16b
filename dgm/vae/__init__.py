"""Variational autoencoders: a decoder p(x | z), an encoder q(z | x), trained on lower bounds of
log p(x). The model lives in `vae.py`, the decoder likelihoods in `likelihoods.py`, the networks in
`networks.py`, the registered objectives (ELBO, IWAE) in `objectives.py`.
"""
