using Qwen3Gen.Training;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Runs;

/// <summary>Everything `qwen3gen train` was asked to do: the optimisation recipe plus the run's housekeeping.</summary>
internal sealed record TrainSettings
{
    /// <summary>The definition trained when neither --model nor --init-from names one.</summary>
    public const string DefaultModel = "Qwen3Shakespeare";

    /// <summary>A definition name from <see cref="ModelCatalog"/> (case-insensitive); null: <see cref="DefaultModel"/>, or the --init-from folder's.</summary>
    public string? Model { get; init; }

    /// <summary>A model folder (Hugging Face snapshot, training checkpoint) or a .safetensors file whose weights the run starts from; null: random.</summary>
    public string? InitFrom { get; init; }

    public TrainingOptions Training { get; init; } = new();

    /// <summary>
    /// False when Training.WarmupSteps is the default derived from --steps: a resumed run then keeps the warmup
    /// stored in its checkpoint (the run's schedule must not change when --steps grows).
    /// </summary>
    public bool WarmupGiven { get; init; } = true;

    /// <summary>Data-parallel settings (used under mpirun).</summary>
    public Distributed.DataParallelOptions Parallel { get; init; } = new();

    /// <summary>
    /// Ranks each model is split over (Megatron tensor parallelism, dense models; 1: off). Under mpirun -np P the job
    /// trains P / TensorParallel data-parallel copies of the split model.
    /// </summary>
    public int TensorParallel { get; init; } = 1;

    /// <summary>Longest wait on another rank before the job is aborted (a rank died or hangs).</summary>
    public TimeSpan CommunicationTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Kernel threads (<see cref="Threading.Workers.Threads"/>).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Steps between validation-loss evaluations (0: only at the end).</summary>
    public int EvalInterval { get; init; } = 250;

    /// <summary>Steps between checkpoints (0: only at the end).</summary>
    public int CheckpointInterval { get; init; } = 500;

    /// <summary>Steps between plain progress lines when the output is not a terminal.</summary>
    public int LogInterval { get; init; } = 100;

    /// <summary>Run folder: checkpoint/ and summary.json go here.</summary>
    public string Out { get; init; } = "";

    /// <summary>Continue from Out/checkpoint.</summary>
    public bool Resume { get; init; }

    /// <summary>Start afresh even if Out already holds a checkpoint (it is replaced at the first save).</summary>
    public bool Overwrite { get; init; }

    /// <summary>UTF-8 text, or JSON lines of chat conversations ({"messages": [...]}), to train on; null: the bundled tinyshakespeare.</summary>
    public string? Data { get; init; }

    /// <summary>"byte" (ids = UTF-8 bytes, vocabulary 256) or "qwen3" (the bundled Qwen3 tokenizer); null: byte, or the --init-from folder's own.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>Characters of sample text generated at each evaluation (0: none).</summary>
    public int SampleChars { get; init; } = 200;

    /// <summary>Standard deviation of the initial matrices (Hugging Face's initializer_range).</summary>
    public float InitStd { get; init; } = 0.02f;

    /// <summary>GPT-2's residual scaling: o_proj and down_proj start with std / sqrt(2 · layers).</summary>
    public bool ScaledResidualInit { get; init; }

    /// <summary>LoRA adapters to train on the --init-from model (its weights frozen); null: a full fine-tune.</summary>
    public Qwen3Gen.Training.Lora.LoraConfig? Lora { get; init; }

    /// <summary>How a LoRA run holds its frozen base: BF16 (the default: half the memory; a BF16 snapshot exactly, F32 weights rounded to nearest even) or F32.</summary>
    public WeightFormat LoraBase { get; init; } = WeightFormat.BF16;

    /// <summary>Recompute each layer's activations in backward instead of keeping them (dense models; same gradients, one more forward).</summary>
    public bool GradientCheckpointing { get; init; }

    /// <summary>Memory the run may take, in bytes; null: what the machine has free (<see cref="MemoryBudget.AvailableBytes"/>).</summary>
    public long? AvailableBytes { get; init; }

    /// <summary>Why an option given with TensorParallel &gt; 1 is refused (null: none is); see docs/distributed.md.</summary>
    private string? NotWithTensorParallel() =>
        Lora is not null ? "--lora-rank is not supported with --tensor-parallel: train LoRA adapters in one process or data-parallel (without --tensor-parallel)."
        : Parallel.ShardOptimizer ? "--zero is not supported with --tensor-parallel: each rank's AdamW moments are already those of its slice only."
        : !Parallel.Overlap ? "--no-overlap is not supported with --tensor-parallel: a tensor-parallel run always sums the data-parallel gradients after the backward pass."
        : GradientCheckpointing ? "--gradient-checkpointing is not supported with --tensor-parallel: a tensor-parallel rank keeps every layer's activations."
        : null;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        Training.Validate();
        if (Training.DecaySteps == 0 && Training.Steps < Training.WarmupSteps)
            throw new ArgumentException($"--steps ({Training.Steps}) must be at least --warmup ({Training.WarmupSteps}): lower --warmup for a short run.");
        if (!(CommunicationTimeout > TimeSpan.Zero)) throw new ArgumentException($"--comm-timeout ({CommunicationTimeout.TotalSeconds} s) must be positive.");
        if (Threads < 1) throw new ArgumentException($"--threads ({Threads}) must be at least 1.");
        if (EvalInterval < 0) throw new ArgumentException($"--eval-interval ({EvalInterval}) must be >= 0 (0 = only at the end).");
        if (CheckpointInterval < 0) throw new ArgumentException($"--checkpoint-interval ({CheckpointInterval}) must be >= 0 (0 = only at the end).");
        if (LogInterval < 1) throw new ArgumentException($"--log-interval ({LogInterval}) must be at least 1.");
        if (SampleChars < 0) throw new ArgumentException($"--samples ({SampleChars}) must be >= 0.");
        if (string.IsNullOrWhiteSpace(Out)) throw new ArgumentException("--out must name a folder.");
        if (Tokenizer is not (null or "byte" or "qwen3")) throw new ArgumentException($"--tokenizer '{Tokenizer}' is not one of: byte, qwen3.");
        if (Resume && Overwrite) throw new ArgumentException("--resume and --overwrite contradict each other.");
        if (LoraBase is not (WeightFormat.F32 or WeightFormat.BF16)) throw new ArgumentException($"--lora-base {LoraBase} is not one of: f32, bf16.");
        if (TensorParallel < 1) throw new ArgumentException($"--tensor-parallel ({TensorParallel}) must be at least 1.");
        if (TensorParallel > 1 && NotWithTensorParallel() is string refused) throw new ArgumentException(refused);
        if (!(InitStd > 0) || float.IsInfinity(InitStd)) throw new ArgumentException($"--init-std ({InitStd}) must be a positive number.");
    }
}
