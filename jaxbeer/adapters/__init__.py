"""The beer game for other libraries: Gymnasium, PettingZoo and JaxMARL.

Each adapter lives in its own module behind an optional extra, so ``import
jaxbeer`` stays light: ``jaxbeer.adapters.gymnasium_env`` (``pip install -e
'.[gymnasium]'``), ``jaxbeer.adapters.pettingzoo_env`` (``[pettingzoo]``) and
``jaxbeer.adapters.jaxmarl_env`` (``[jaxmarl]``). ``jaxbeer.adapters.core``
holds what they share. See ``docs/adapters.md``.
"""
