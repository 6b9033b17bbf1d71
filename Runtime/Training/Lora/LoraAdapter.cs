using System.Numerics.Tensors;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Training.Lora;

/// <summary>
/// LoRA adapters (Hu et al. 2021, as PEFT implements them) on a model's projection matrices: for each target W [out, in],
/// A [r, in] and B [out, r], and the layer computes y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ, s = alpha / r. A starts uniform in
/// ±1/√in (PEFT's kaiming_uniform(a = √5)), B at zero, so training starts from the base model exactly.
/// <para>
/// How it trains on the generated passes: set as the model's <see cref="IQwen3Model.Adapters"/>, it adds its term after
/// each target's product in the forward pass (<see cref="Forward"/>), and the generated backward, which then computes no
/// gradient of the frozen base (no full gradient buffer exists), hands it each target's output gradient dy and input x
/// (<see cref="Backward"/>): with u = s·x·Aᵀ and v = s·dy·B,  ∂L/∂B += dyᵀ·u,  ∂L/∂A += vᵀ·x,  and dx += v·A on top
/// of the base's dy·W. The base W stays as loaded, F32 or BF16 (only the adapters are given to the optimizer).
/// </para>
/// Saved as PEFT does: adapter_config.json and adapter_model.safetensors with keys
/// <c>base_model.model.{module}.lora_A.weight</c> / <c>lora_B.weight</c>. <see cref="MergeInto"/> folds them into F32
/// weights (PEFT's merge_and_unload) for inference and export.
/// </summary>
public sealed unsafe class LoraAdapter : IMatrixAdapters, IDisposable
{
    public const string WeightsFileName = "adapter_model.safetensors";
    private const string Prefix = "base_model.model.";

    private readonly Target[] _targets;
    private readonly Dictionary<long, int> _byMatrix = new();       // model layout offset of a target -> its index
    private NativeBuffer<float>? _scratch;                           // u and v of one call: 2 × rows × r floats, grown once

    /// <summary>One adapted matrix: its tensor in the model, its A and B in <see cref="Parameters"/>.</summary>
    private readonly record struct Target(TensorSpec Weight, TensorSpec A, TensorSpec B, int Out, int In);

    private LoraAdapter(LoraConfig config, Target[] targets, long parameters)
    {
        Config = config;
        _targets = targets;
        for (int i = 0; i < targets.Length; i++) _byMatrix.Add(targets[i].Weight.Offset, i);
        Parameters = new NativeBuffer<float>(parameters);
        Gradients = new NativeBuffer<float>(parameters);
        Tensors = targets.SelectMany(t => new[] { t.A, t.B }).ToArray();
    }

    public LoraConfig Config { get; }

    /// <summary>Every A and B under its PEFT key, with shape and offset in <see cref="Parameters"/> (what the optimizer steps).</summary>
    public IReadOnlyList<TensorSpec> Tensors { get; }

    /// <summary>The adapters' values, flat.</summary>
    public NativeBuffer<float> Parameters { get; }

    /// <summary>∂L/∂(adapters), added by every <see cref="Backward"/> (zero it before a step), in the layout of <see cref="Parameters"/>.</summary>
    public NativeBuffer<float> Gradients { get; }

    /// <summary>The model's tensors the adapters sit on.</summary>
    public IEnumerable<TensorSpec> TargetWeights => _targets.Select(t => t.Weight);

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

    /// <summary>New adapters for <paramref name="model"/>'s matrices (A random, B zero: the model's output is unchanged).</summary>
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
        var weights = TargetTensors(model, config);
        if (weights.Count == 0) throw new ArgumentException($"{model.Name} has no matrix named by target_modules {string.Join(", ", config.TargetModules)}.");
        var targets = new Target[weights.Count];
        long offset = 0;
        for (int i = 0; i < weights.Count; i++)
        {
            var w = weights[i];
            int outDim = w.Shape[0], inDim = w.Shape[1];
            string module = Prefix + w.Name[..^".weight".Length];
            var a = new TensorSpec(module + ".lora_A.weight", [config.Rank, inDim], offset);
            offset += (long)config.Rank * inDim;
            var b = new TensorSpec(module + ".lora_B.weight", [outDim, config.Rank], offset);
            offset += (long)outDim * config.Rank;
            targets[i] = new Target(w, a, b, outDim, inDim);
        }
        return new LoraAdapter(config, targets, offset);
    }

    /// <summary>Scratch floats one call over <paramref name="rows"/> rows uses (what <see cref="Forward"/> and <see cref="Backward"/> allocate once).</summary>
    public static long ScratchFloats(int rank, long rows) => 2 * rows * rank;

    private float* Scratch(int rows)
    {
        long need = ScratchFloats(Config.Rank, rows);
        if (_scratch is null || _scratch.Length < need)
        {
            _scratch?.Dispose();
            _scratch = new NativeBuffer<float>(need);
        }
        return _scratch.Pointer;
    }

    /// <summary>y += s·(x·Aᵀ)·Bᵀ for the target at layout offset <paramref name="matrix"/> (others: nothing).</summary>
    public void Forward(long matrix, float* y, float* x, int rows)
    {
        if (!_byMatrix.TryGetValue(matrix, out int i)) return;
        var t = _targets[i];
        int r = Config.Rank;
        float* p = Parameters.Pointer, u = Scratch(rows);
        MatMul.Forward(u, x, p + t.A.Offset, rows, t.In, r);                       // u = x·Aᵀ      [rows, r]
        RowOps.Scale(u, Config.Scaling, rows * r);                                 // u = s·x·Aᵀ
        MatMul.ForwardAdd(y, u, p + t.B.Offset, rows, r, t.Out);                    // y += u·Bᵀ     [rows, out]
    }

    /// <summary>
    /// From dy [rows, out] and x [rows, in] of the target at <paramref name="matrix"/>: u = s·x·Aᵀ (recomputed), v = s·dy·B,
    /// ∂L/∂B += dyᵀ·u, ∂L/∂A += vᵀ·x, dx += v·A. Every product is a deterministic kernel, so the result does not depend on the thread count.
    /// </summary>
    public void Backward(long matrix, float* dx, float* dy, float* x, int rows)
    {
        if (!_byMatrix.TryGetValue(matrix, out int i)) return;
        var t = _targets[i];
        int r = Config.Rank;
        float s = Config.Scaling;
        float* p = Parameters.Pointer, d = Gradients.Pointer, u = Scratch(rows), v = u + (long)rows * r;
        MatMul.Forward(u, x, p + t.A.Offset, rows, t.In, r);                       // u = x·Aᵀ
        RowOps.Scale(u, s, rows * r);                                              //   · s
        RowOps.Clear(v, (long)rows * r);
        MatMul.BackwardInput(v, dy, p + t.B.Offset, rows, r, t.Out);                // v = dy·B       [rows, r]
        RowOps.Scale(v, s, rows * r);                                              //   · s
        MatMul.BackwardWeight(d + t.B.Offset, dy, u, rows, r, t.Out);               // dB += dyᵀ·u    [out, r]
        MatMul.BackwardWeight(d + t.A.Offset, v, x, rows, t.In, r);                 // dA += vᵀ·x     [r, in]
        MatMul.BackwardInput(dx, v, p + t.A.Offset, rows, t.In, r);                 // dx += v·A      [rows, in]
    }

    /// <summary>
    /// Adds s·B·A to each target of <paramref name="model"/>'s F32 weights (PEFT's merge_and_unload): afterwards the model
    /// without adapters computes what the base with them did, up to rounding. Call it once per model (rows in parallel;
    /// bit-identical for any thread count).
    /// </summary>
    public void MergeInto(IQwen3Model model)
    {
        if (model.Weights.Format != WeightFormat.F32) throw new ArgumentException("Merging LoRA adapters needs the model's weights in F32 (load with --f32).", nameof(model));
        float* w = model.Weights.Data.Pointer, p = Parameters.Pointer;
        foreach (var t in _targets)
            Workers.ForRows(t.Out, t.In * (long)Config.Rank, new MergeJob(w + t.Weight.Offset, p + t.A.Offset, p + t.B.Offset, t.In, Config.Rank, Config.Scaling));
    }

    /// <summary>
    /// The bytes (F32) of <paramref name="tensor"/> of the merged model W₀ + s·B·A, W₀ read from <paramref name="weights"/> (F32 or
    /// BF16, widened), computed a row at a time as <see cref="MergeInto"/> does, so equal to it bit for bit; null for a tensor without
    /// an adapter. What a LoRA run's checkpoint writes as its model.safetensors without a merged copy of the model in memory.
    /// </summary>
    public Action<Stream>? MergedTensor(TensorSpec tensor, Weights weights)
    {
        if (!_byMatrix.TryGetValue(tensor.Offset, out int i) || _targets[i].Weight.Name != tensor.Name) return null;
        var t = _targets[i];
        return stream =>
        {
            var row = new float[t.In];
            float s = Config.Scaling;
            var w = weights.Matrix(tensor.Offset);
            for (int o = 0; o < t.Out; o++)
            {
                fixed (float* r = row)
                {
                    if (w.Format == MatrixFormat.F32) new ReadOnlySpan<float>((float*)w.Data + (long)o * t.In, t.In).CopyTo(row);
                    else RowOps.Load(r, (BF16*)w.Data + (long)o * t.In, t.In);
                }
                MergeRow(row, Parameters.Pointer + t.A.Offset, Parameters.Pointer + t.B.Offset + (long)o * Config.Rank, t.In, Config.Rank, s);
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
            }
        };
    }

    /// <summary>row += Σ_k (s·b[k])·A[k], k in order.</summary>
    private static void MergeRow(Span<float> row, float* a, float* b, int inDim, int rank, float s)
    {
        for (int k = 0; k < rank; k++)
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(a + (long)k * inDim, inDim), s * b[k], row, row);
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
        _scratch?.Dispose();
    }

    /// <summary>Row o of W += s·Σ_k B[o, k]·A[k].</summary>
    private readonly struct MergeJob(float* w, float* a, float* b, int inDim, int rank, float s) : IParallelJob
    {
        public void Execute(int start, int end)
        {
            for (int o = start; o < end; o++)
                MergeRow(new Span<float>(w + (long)o * inDim, inDim), a, b + (long)o * rank, inDim, rank, s);
        }
    }
}
