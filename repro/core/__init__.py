"""The network and its arithmetic, which every stage of the study uses: DeblurNet
(:mod:`.model`), deblurring an image with it (:mod:`.inference`), loading and saving checkpoints
(:mod:`.checkpoint`), numeric precision (:mod:`.precision`) and devices (:mod:`.devices`), the
image metrics (:mod:`.metrics`), and the torch-free arguments of the commands that import torch
(:mod:`.arguments`). Nothing here imports a stage of the study."""
