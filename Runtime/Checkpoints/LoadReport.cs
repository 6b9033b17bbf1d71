using Qwen3Gen.Models;

namespace Qwen3Gen.Checkpoints;

/// <summary>What a <see cref="CheckpointLoader.Load(IQwen3Model, string)"/> did.</summary>
/// <param name="Source">The checkpoint path (file, index or folder).</param>
/// <param name="Files">The safetensors files read.</param>
/// <param name="Loaded">Number of model tensors filled.</param>
/// <param name="ExtraTensors">Checkpoint tensors the model does not use (sorted); for a tied model this includes a stored <c>lm_head.weight</c>.</param>
/// <param name="DTypes">How many loaded tensors came in each dtype.</param>
/// <param name="GgmlTypes">For a GGUF file: how many loaded tensors came in each GGML type (DTypes is then empty).</param>
public sealed record LoadReport(
    string Source,
    IReadOnlyList<string> Files,
    int Loaded,
    IReadOnlyList<string> ExtraTensors,
    IReadOnlyDictionary<SafeTensorsDType, int> DTypes,
    IReadOnlyDictionary<GgmlType, int>? GgmlTypes = null)
{
    /// <summary>One line per fact, for a CLI to print.</summary>
    public override string ToString()
    {
        var dtypes = GgmlTypes is null
            ? string.Join(", ", DTypes.OrderBy(p => p.Key).Select(p => $"{p.Value} {p.Key}"))
            : string.Join(", ", GgmlTypes.OrderBy(p => p.Key).Select(p => $"{p.Value} {p.Key}"));
        string text = $"Loaded {Loaded} tensors ({dtypes}) from {Source} ({Files.Count} file{(Files.Count == 1 ? "" : "s")}).";
        if (ExtraTensors.Count > 0)
            text += $"\n{ExtraTensors.Count} unused tensor{(ExtraTensors.Count == 1 ? "" : "s")} in the checkpoint: " +
                    string.Join(", ", ExtraTensors.Take(10)) + (ExtraTensors.Count > 10 ? $", ... ({ExtraTensors.Count - 10} more)" : "");
        return text;
    }
}
