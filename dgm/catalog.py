"""The catalogue: importing this module registers every model, dataset, objective and metric.

The registries (`dgm.registry`) only hold names; a component registers itself when its module is
imported. Users that look components up by name (the CLI, `dgm.build`, the trainer, tests)
import this module, which sits at the top of the import graph, so that the registries stay at its
bottom and `import dgm` stays light.
"""

import dgm.cnf.ffjord  # noqa: F401  (ffjord)
import dgm.cnf.matching  # noqa: F401  (flow-matching)
import dgm.cnf.objectives  # noqa: F401  (otflow, rnode, cfm)
import dgm.cnf.otflow  # noqa: F401  (otflow)
import dgm.data.images  # noqa: F401  (mnist, digits)
import dgm.data.mixture  # noqa: F401  (gmm8, gmm16)
import dgm.data.pca  # noqa: F401  (mnist-pca32)
import dgm.data.toy  # noqa: F401  (2-D toys)
import dgm.flows.recipes  # noqa: F401  (realnvp, nice, maf, nsf, glow)
import dgm.gan.flowgan  # noqa: F401  (flow-gan: model and objective)
import dgm.gan.gan  # noqa: F401  (gan, dcgan, wgan, wgan-gp)
import dgm.gan.objectives  # noqa: F401  (gan-ns, gan-minimax, lsgan, hinge, wgan, wgan-gp, r3gan)
import dgm.metrics  # noqa: F401
import dgm.models.gaussian  # noqa: F401  (gaussian, diag-gaussian)
import dgm.objectives  # noqa: F401  (mle)
import dgm.vae.m1m2  # noqa: F401  (vae-m1m2)
import dgm.vae.m2  # noqa: F401  (vae-m2)
import dgm.vae.objectives  # noqa: F401  (elbo, iwae, m2)
import dgm.vae.vae  # noqa: F401  (vae)
