using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// Fills a model's <see cref="Weights"/> from a Hugging Face safetensors checkpoint by tensor name.
/// Everything is checked before a byte is copied: every model tensor must be present with its exact shape
/// and a floating-point dtype (F32, BF16, F16); all problems are reported together in one
/// <see cref="InvalidDataException"/>. Then each tensor is converted straight from the memory-mapped file into
/// the weights (BF16 -> BF16 is a copy, never a detour through float32).
/// Tied models have no <c>lm_head.weight</c> parameter; a checkpoint that stores one anyway
/// (some exporters do) loads fine and the tensor is listed in <see cref="LoadReport.ExtraTensors"/>.
/// </summary>
public static unsafe class CheckpointLoader
{
    public const string LmHeadName = "lm_head.weight";

    /// <summary>The dtypes a parameter may be stored in.</summary>
    public static bool IsLoadable(SafeTensorsDType dtype) =>
        dtype is SafeTensorsDType.F32 or SafeTensorsDType.BF16 or SafeTensorsDType.F16;

    /// <summary>
    /// Fills <paramref name="model"/>'s weights from the safetensors checkpoint at <paramref name="path"/> (a file, an
    /// index.json or a folder), by Hugging Face tensor name; a tied model reads no lm_head.weight. Every tensor must be
    /// present with the model's shape (F32, BF16 or F16, converted to the model's format), else nothing is loaded and
    /// an <see cref="InvalidDataException"/> lists what is wrong.
    /// </summary>
    public static LoadReport Load(IQwen3Model model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var source = CheckpointSource.Open(path);
        return Load(model, source);
    }

    /// <summary>As <see cref="Load(IQwen3Model, string)"/>, from an open source (files stay mapped while it is open).</summary>
    public static LoadReport Load(IQwen3Model model, CheckpointSource source)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Load(model.Tensors, model.Config.TieEmbeddings, model.Weights, source);
    }

    /// <summary>A tensor table and its weights without a model (tests of the format, tools over raw layouts).</summary>
    internal static LoadReport Load(IReadOnlyList<TensorSpec> tensors, bool tieEmbeddings, Weights weights, string path)
    {
        using var source = CheckpointSource.Open(path);
        return Load(tensors, tieEmbeddings, weights, source);
    }

    internal static LoadReport Load(IReadOnlyList<TensorSpec> tensors, bool tieEmbeddings, Weights weights, CheckpointSource source)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(source);
        WeightsAccess.CheckLayout(tensors, weights);
        if (tieEmbeddings && tensors.Any(t => t.Name == LmHeadName))
            throw new ArgumentException($"A tied model must not list '{LmHeadName}' as a parameter: it shares model.embed_tokens.weight.");

        // 1. Match every model tensor; collect all problems before touching the weights.
        var missing = new List<string>();
        var problems = new List<string>();
        var found = new (SafeTensorsFile File, SafeTensorInfo Info)[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            var spec = tensors[i];
            if (!source.TryGet(spec.Name, out var file, out var info))
            {
                missing.Add(spec.Name);
                continue;
            }
            if (!info.ShapeEquals(spec.Shape))
                problems.Add($"'{spec.Name}': expected shape {spec.ShapeText}, found {info.ShapeText} in '{file.Path}'.");
            else if (!IsLoadable(info.DType))
                problems.Add($"'{spec.Name}': dtype {info.DType} in '{file.Path}' is not a floating-point weight dtype (F32, BF16 or F16 expected).");
            found[i] = (file, info);
        }
        if (missing.Count > 0 || problems.Count > 0)
            throw new InvalidDataException(Describe(source, missing, problems, tensors.Count));

        // 2. Copy, converting on the way: straight from the mapped file into the weights, in chunks.
        var dtypes = new Dictionary<SafeTensorsDType, int>();
        for (int i = 0; i < tensors.Count; i++)
        {
            var (file, info) = found[i];
            WeightsAccess.Locate(weights, tensors[i], out float* f32, out BF16* bf16);
            if (f32 != null) file.ReadF32(info, 0, f32, info.ElementCount);
            else file.ReadBF16(info, 0, bf16, info.ElementCount);
            dtypes[info.DType] = dtypes.GetValueOrDefault(info.DType) + 1;
        }

        var wanted = new HashSet<string>(tensors.Select(t => t.Name), StringComparer.Ordinal);
        var extra = source.Names.Where(n => !wanted.Contains(n)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        return new LoadReport(source.Path, source.Files.Select(f => f.Path).ToList(), tensors.Count, extra, dtypes);
    }

    /// <summary>"Checkpoint X does not match the model: 2 of 24 tensors missing: a, b; 'c': expected shape ..."</summary>
    private static string Describe(CheckpointSource source, List<string> missing, List<string> problems, int total)
    {
        const int MaxListed = 20;
        var lines = new List<string> { $"Checkpoint '{source}' does not match the model:" };
        if (missing.Count > 0)
        {
            lines.Add($"{missing.Count} of {total} tensors missing: " + string.Join(", ", missing.Take(MaxListed).Select(n => $"'{n}'"))
                      + (missing.Count > MaxListed ? $", ... ({missing.Count - MaxListed} more)" : "") + ".");
        }
        lines.AddRange(problems.Take(MaxListed));
        if (problems.Count > MaxListed) lines.Add($"... and {problems.Count - MaxListed} more shape or dtype mismatches.");
        return string.Join(Environment.NewLine, lines);
    }
}
