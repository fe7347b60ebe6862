"""Plumbing that every stage of the study uses: atomic writes (:mod:`.files`), the project's
folders (:mod:`.paths`), reading and writing images (:mod:`.images`) and video (:mod:`.video`),
paired datasets (:mod:`.datasets`), worker pools (:mod:`.pool`), and the helpers of reports and
figures (:mod:`.reports`, :mod:`.provenance`, :mod:`.figures`). Nothing here imports a stage of
the study."""
