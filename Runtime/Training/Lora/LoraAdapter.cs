using System.Numerics.Tensors;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Training.Lora;

/// <summary>
/// LoRA adapters (Hu et al. 2021, as PEFT implements them) on a model's projection matrices: for each target W [out, in],
/// A [r, in] and B [out, r] with the effective weight W' = W₀ + s·B·A, s = alpha / r. A starts uniform in
/// ±1/√in (PEFT's kaiming_uniform(a = √5)), B at zero, so training starts from the base model exactly.
/// <para>
/// How it trains on the generated passes: <see cref="Merge"/> writes W' into the model's weights before a step (the
/// frozen W₀ is kept here), the generated forward and backward run unchanged, and <see cref="ProjectGradients"/> turns
/// the full gradient G = ∂L/∂W' of each target into the adapters' by the chain rule: ∂L/∂B = s·G·Aᵀ, ∂L/∂A = s·Bᵀ·G.
/// Everything else stays frozen (only the adapters are given to the optimizer). The cost of this design: the model's
/// full gradient buffer and a float32 copy of the targets' base weights are held, so LoRA saves the optimizer moments
/// and the update of the base but not the full gradient (docs/training.md has the measurement).
/// </para>
/// Saved as PEFT does: adapter_config.json and adapter_model.safetensors with keys
/// <c>base_model.model.{module}.lora_A.weight</c> / <c>lora_B.weight</c>.
/// </summary>
public sealed unsafe class LoraAdapter : IDisposable
{
    public const string WeightsFileName = "adapter_model.safetensors";
    private const string Prefix = "base_model.model.";

    private readonly Target[] _targets;
    private readonly NativeBuffer<float> _base;

    /// <summary>One adapted matrix: its tensor in the model, its A and B in <see cref="Parameters"/>, its W₀ in the base copy.</summary>
    private readonly record struct Target(TensorSpec Weight, TensorSpec A, TensorSpec B, long BaseOffset, int Out, int In);

    private LoraAdapter(LoraConfig config, Target[] targets, long parameters, long baseCount)
    {
        Config = config;
        _targets = targets;
        Parameters = new NativeBuffer<float>(parameters);
        Gradients = new NativeBuffer<float>(parameters);
        _base = new NativeBuffer<float>(baseCount);
        Tensors = targets.SelectMany(t => new[] { t.A, t.B }).ToArray();
    }

    public LoraConfig Config { get; }

    /// <summary>Every A and B under its PEFT key, with shape and offset in <see cref="Parameters"/> (what the optimizer steps).</summary>
    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>The adapters' values, flat.</summary>
    public NativeBuffer<float> Parameters { get; }

    /// <summary>∂L/∂(adapters) of the last <see cref="ProjectGradients"/>, in the layout of <see cref="Parameters"/>.</summary>
    public NativeBuffer<float> Gradients { get; }

    /// <summary>Adapter parameters: r·(in + out) per target.</summary>
    public long Count => Parameters.Length;

    /// <summary>The model's tensors <paramref name="config"/> targets: "model.layers.{i}.(self_attn|mlp).{module}.weight".</summary>
    public static List<TensorSpec> TargetTensors(IQwen3Model model, LoraConfig config) =>
        model.Tensors.Where(t => t.IsMatrix && t.Name.StartsWith("model.layers.", StringComparison.Ordinal)
                                 && config.TargetModules.Any(m => t.Name.EndsWith("." + m + ".weight", StringComparison.Ordinal))
                                 && !t.Name.Contains(".experts.", StringComparison.Ordinal)).ToList();

    /// <summary>Adapter parameters and adapted base parameters for a model of <paramref name="c"/> (before any allocation; experts are not adapted).</summary>
    public static (long Adapter, long Targets) Size(ModelConfig c, LoraConfig config)
    {
        long h = c.Hidden, q = (long)c.Heads * c.HeadDim, kv = (long)c.KvHeads * c.HeadDim, adapter = 0, targets = 0;
        for (int layer = 0; layer < c.Layers; layer++)
            foreach (var m in config.TargetModules)
            {
                if (c.IsSparse(layer) && m is "gate_proj" or "up_proj" or "down_proj") continue;
                (long outDim, long inDim) = m switch
                {
                    "q_proj" => (q, h), "k_proj" or "v_proj" => (kv, h), "o_proj" => (h, q),
                    "down_proj" => (h, (long)c.Ffn), _ => ((long)c.Ffn, h),
                };
                adapter += config.Rank * (inDim + outDim);
                targets += inDim * outDim;
            }
        return (adapter, targets);
    }

    /// <summary>New adapters for <paramref name="model"/> (F32 weights; its current weights become the frozen base).</summary>
    public static LoraAdapter Create(IQwen3Model model, LoraConfig config, ulong seed)
    {
        var adapter = Allocate(model, config);
        var rng = new Sampling.Rng(seed);
        foreach (var t in adapter._targets)
        {
            float bound = 1f / MathF.Sqrt(t.In);
            var a = adapter.Parameters.Slice(t.A.Offset, (int)t.A.Length);
            for (int i = 0; i < a.Length; i++) a[i] = bound * (2f * (rng.NextUInt32() >> 8) / (1 << 24) - 1f);
        }
        return adapter;
    }

    /// <summary>Adapters read from a PEFT folder (adapter_config.json + adapter_model.safetensors) for <paramref name="model"/>.</summary>
    public static LoraAdapter Load(IQwen3Model model, string directory)
    {
        string configPath = Path.Combine(directory, LoraConfig.FileName), weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"Adapter folder '{directory}' has no {LoraConfig.FileName}.", configPath);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"Adapter folder '{directory}' has no {WeightsFileName}.", weightsPath);
        var config = LoraConfig.FromJson(File.ReadAllText(configPath), configPath);
        var adapter = Allocate(model, config);
        try
        {
            using var file = SafeTensorsFile.Open(weightsPath);
            var missing = adapter.Tensors.Where(t => !file.Tensors.ContainsKey(t.Name)).Select(t => t.Name).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{weightsPath} lacks {missing.Count} adapter tensor(s) for {model.Name}, e.g. '{missing[0]}'.");
            foreach (var t in adapter.Tensors)
            {
                var info = file.Tensors[t.Name];
                if (!info.Shape.SequenceEqual(t.Shape.Select(d => (long)d)))
                    throw new InvalidDataException($"{weightsPath}: '{t.Name}' has shape [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", t.Shape)}] (r = {config.Rank}).");
                file.ReadF32(t.Name, 0, adapter.Parameters.Slice(t.Offset, (int)t.Length));
            }
            return adapter;
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    private static LoraAdapter Allocate(IQwen3Model model, LoraConfig config)
    {
        config.Validate();
        if (model.Weights.Format != WeightFormat.F32) throw new ArgumentException("LoRA needs the model's weights in F32 (load with --f32).", nameof(model));
        var weights = TargetTensors(model, config);
        if (weights.Count == 0) throw new ArgumentException($"{model.Name} has no matrix named by target_modules {string.Join(", ", config.TargetModules)}.");
        var targets = new Target[weights.Count];
        long offset = 0, baseOffset = 0;
        for (int i = 0; i < weights.Count; i++)
        {
            var w = weights[i];
            int outDim = w.Shape[0], inDim = w.Shape[1];
            string module = Prefix + w.Name[..^".weight".Length];
            var a = new TensorSpec(module + ".lora_A.weight", [config.Rank, inDim], offset);
            offset += (long)config.Rank * inDim;
            var b = new TensorSpec(module + ".lora_B.weight", [outDim, config.Rank], offset);
            offset += (long)outDim * config.Rank;
            targets[i] = new Target(w, a, b, baseOffset, outDim, inDim);
            baseOffset += w.Length;
        }
        var adapter = new LoraAdapter(config, targets, offset, baseOffset);
        var data = model.Weights.Data;
        foreach (var t in targets)                                       // the frozen W₀: the model's weights now
            for (long done = 0; done < t.Weight.Length; done += 1 << 20)
            {
                int n = (int)Math.Min(1 << 20, t.Weight.Length - done);
                data.Slice(t.Weight.Offset + done, n).CopyTo(adapter._base.Slice(t.BaseOffset + done, n));
            }
        return adapter;
    }

    /// <summary>Writes W' = W₀ + s·B·A into <paramref name="model"/>'s weights for every target (rows in parallel; bit-identical for any thread count).</summary>
    public void Merge(IQwen3Model model)
    {
        float* w = model.Weights.Data.Pointer, p = Parameters.Pointer, b0 = _base.Pointer;
        foreach (var t in _targets)
            Workers.ForRows(t.Out, t.In * (long)Config.Rank, new MergeJob(w + t.Weight.Offset, b0 + t.BaseOffset, p + t.A.Offset, p + t.B.Offset, t.In, Config.Rank, Config.Scaling));
    }

    /// <summary>
    /// ∂L/∂A and ∂L/∂B from the model's gradient G of each target (after Backward): dB = s·G·Aᵀ, dA = s·Bᵀ·G,
    /// added into <see cref="Gradients"/> (call <see cref="ZeroGradients"/> before a step).
    /// </summary>
    public void ProjectGradients(NativeBuffer<float> modelGradients)
    {
        float* g = modelGradients.Pointer, p = Parameters.Pointer, d = Gradients.Pointer;
        foreach (var t in _targets)
        {
            Workers.ForRows(t.Out, t.In * (long)Config.Rank, new GradBJob(g + t.Weight.Offset, p + t.A.Offset, d + t.B.Offset, t.In, Config.Rank, Config.Scaling));
            Workers.ForRows(Config.Rank, t.In * (long)t.Out, new GradAJob(g + t.Weight.Offset, p + t.B.Offset, d + t.A.Offset, t.Out, t.In, Config.Rank, Config.Scaling));
        }
    }

    public void ZeroGradients() => Gradients.Clear();

    /// <summary>Writes adapter_config.json and adapter_model.safetensors (F32) into <paramref name="directory"/>.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, LoraConfig.FileName), Config.ToJson());
        var writer = new SafeTensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var t in Tensors)
        {
            var tensor = t;
            writer.Add(tensor.Name, SafeTensorsDType.F32, tensor.Shape.Select(x => (long)x).ToArray(),
                       stream => stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Parameters.Slice(tensor.Offset, (int)tensor.Length))));
        }
        writer.Save(Path.Combine(directory, WeightsFileName));
    }

    public void Dispose()
    {
        Parameters.Dispose();
        Gradients.Dispose();
        _base.Dispose();
    }

    /// <summary>Row o of W' = W₀[o] + s·Σ_k B[o, k]·A[k].</summary>
    private readonly struct MergeJob(float* w, float* w0, float* a, float* b, int inDim, int rank, float s) : IParallelJob
    {
        public void Execute(int start, int end)
        {
            for (int o = start; o < end; o++)
            {
                var row = new Span<float>(w + (long)o * inDim, inDim);
                new ReadOnlySpan<float>(w0 + (long)o * inDim, inDim).CopyTo(row);
                for (int k = 0; k < rank; k++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(a + (long)k * inDim, inDim), s * b[(long)o * rank + k], row, row);
            }
        }
    }

    /// <summary>dB[o, k] += s·G[o]·A[k].</summary>
    private readonly struct GradBJob(float* g, float* a, float* db, int inDim, int rank, float s) : IParallelJob
    {
        public void Execute(int start, int end)
        {
            for (int o = start; o < end; o++)
            {
                var row = new ReadOnlySpan<float>(g + (long)o * inDim, inDim);
                for (int k = 0; k < rank; k++)
                    db[(long)o * rank + k] += s * TensorPrimitives.Dot(row, new ReadOnlySpan<float>(a + (long)k * inDim, inDim));
            }
        }
    }

    /// <summary>dA[k] += s·Σ_o B[o, k]·G[o] (o in order: each dA row is one thread's).</summary>
    private readonly struct GradAJob(float* g, float* b, float* da, int outDim, int inDim, int rank, float s) : IParallelJob
    {
        public void Execute(int start, int end)
        {
            for (int k = start; k < end; k++)
            {
                var row = new Span<float>(da + (long)k * inDim, inDim);
                for (int o = 0; o < outDim; o++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(g + (long)o * inDim, inDim), s * b[(long)o * rank + k], row, row);
            }
        }
    }
}
