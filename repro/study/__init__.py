"""The study's own machinery, on top of every stage: the notebooks' shared context
(:mod:`.notebook`), running every notebook through papermill (:mod:`.reproduce`), the
supplementary figures (:mod:`.supplementary`) and the demo's summary (:mod:`.demo`)."""
