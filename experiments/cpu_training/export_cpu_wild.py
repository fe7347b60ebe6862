"""Export the DeblurNet^WILD with the best validation PSNR among the CPU runs of issue 15 (never test).

Run from the repository root after those runs (commands in the weights card); it wrote
repro/weights/deblurnet_wild.{pt,json}.
"""
from pathlib import Path
from repro.core.checkpoint import load_model
from repro.train import export_weights, summarise_log

candidates = {"cpu3_ft_wild": Path("runs/cpu3_ft_wild/best.pt"), "cpu2_ft_wild": Path("runs/cpu2_ft_wild/best.pt")}
scores = {k: load_model(p)[1]["best_psnr"] for k, p in candidates.items()}
print(scores)
run = max(scores, key=scores.get)
s = summarise_log(f"experiments/cpu_training/train_{run}.csv")
meta = load_model(candidates[run])[1]
earlier = {"cpu3_ft_wild": ["experiments/first_gpu_camera/gpu_training/shipped/train_gpu_fast_wild_w0.25.csv", "experiments/cpu_training/train_cpu2_ft_wild.csv"],
           "cpu2_ft_wild": ["experiments/first_gpu_camera/gpu_training/shipped/train_gpu_fast_wild_w0.25.csv"]}[run]
commands = {
    "cpu2_ft_wild": ("git show f1c2ab5:repro/weights/deblurnet_wild.pt > runs/init/deblurnet_wild_f1c2ab5.pt && "
                     "python -m repro build-wild virtual data/wild_cpu --split val --pairs 48 && "
                     "python -m repro build-wild virtual data/wild_cpu --split train --pairs 1600 && "
                     "python -m repro train --preset cpu-finetune --data wild --data-root data/wild_cpu --out runs/cpu2_ft_wild "
                     "--run cpu2_ft_wild --threads 2 --set lr_schedule=cosine --steps 9000 (camera v2; stopped at step 1700)"),
}
commands["cpu3_ft_wild"] = (commands["cpu2_ft_wild"] + " && python -m repro build-wild virtual data/wild_cpu3 --split train "
                            "--pairs 1200 (camera v3) && python -m repro train --preset cpu-finetune --data wild "
                            "--data-root data/wild_cpu3 --val-root data/wild_cpu --out runs/cpu3_ft_wild --run cpu3_ft_wild "
                            "--threads 2 --set init=runs/cpu2_ft_wild/best.pt --set lr=3e-4 --set lr_schedule=cosine "
                            "--set warmup_steps=100 --steps 4000")
total_minutes = s["minutes"] + (summarise_log("experiments/cpu_training/train_cpu2_ft_wild.csv")["minutes"] if run == "cpu3_ft_wild" else 0.0)
export_weights(candidates[run], "repro/weights/deblurnet_wild.pt", half=True, command=commands[run],
               exported_from=f"{run}/best.pt (best validation PSNR, step {meta['steps']}; chosen on the validation split, never on test)",
               final_psnr=meta["best_psnr"], minutes=s["minutes"], minutes_with_earlier_cpu_runs=total_minutes,
               seconds_per_step=s["s/step"], data_share_of_step=s["data share"],
               device="CPU, 2 threads of a 2-core x86_64 machine (shared with other jobs at times)",
               run_departures=["cosine learning-rate schedule (--set lr_schedule=cosine) instead of x0.75 steps",
                               "learning rate 3e-4, initialised from cpu2_ft_wild's best checkpoint" if run == "cpu3_ft_wild"
                               else "learning rate 5e-4 (the cpu-finetune preset)",
                               "validation on data/wild_cpu's 48 validation pairs (camera v2; the same images in v3)"],
               run=run, training_log=f"experiments/cpu_training/train_{run}.csv", earlier_logs=earlier,
               lineage=("2 GPU-minutes on the first, milder virtual data (f1c2ab5, experiments/first_gpu_camera/gpu_training/shipped/), "
                        "then 1700 CPU steps on 1600 camera-v2 pairs (cpu2_ft_wild, best at step 750)"
                        + (", then this run on 1200 camera-v3 pairs (two more training photos)" if run == "cpu3_ft_wild" else "")))
print("exported", run, meta["steps"], meta["best_psnr"])
