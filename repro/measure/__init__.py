"""Measuring a network on pairs: what choosing and shipping a network (:mod:`repro.train.ship`)
and the study's reports (:mod:`repro.evaluate`) both need, so that neither stage imports the other.

- :mod:`.records`: one pass of a network over a paired split: per-image PSNRs before and after and
  the norm of N3's residual (Fig. 9's measure), the identity PSNR on sharp frames, blur sizes from
  a WILD manifest, correlations;
- :mod:`.gains`: a checkpoint's mean gain on named pair sets, overall and by blur size, and the
  validation gain a network is chosen on;
- :mod:`.harm`: the do-no-harm measures (identity PSNR, gains by input PSNR on the still split)
  and the score the do-no-harm recipe is chosen on.
"""
