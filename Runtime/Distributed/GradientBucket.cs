using Qwen3Gen.Models;

namespace Qwen3Gen.Distributed;

/// <summary>
/// The gradients that become final together during the backward pass (one <see cref="IBackwardHook"/> call), as
/// ranges of the flat layout: a decoder layer's tensors are not contiguous (the layout puts all matrices first,
/// then the norm vectors), so a layer is a few ranges. Adjacent tensors are merged into one range.
/// </summary>
public sealed record GradientBucket(string Name, GradientRange[] Ranges)
{
    public long Elements => Ranges.Sum(r => r.Length);

    /// <summary>
    /// The buckets of a model in the order its backward pass finishes them: "head" (model.norm and an untied
    /// lm_head), "layer L−1" … "layer 0", then "embedding" (embed_tokens; tied: the LM head too). Every tensor is in
    /// exactly one bucket.
    /// </summary>
    public static GradientBucket[] ForModel(IReadOnlyList<TensorSpec> tensors, int layers)
    {
        var head = new List<TensorSpec>();
        var embedding = new List<TensorSpec>();
        var perLayer = Enumerable.Range(0, layers).Select(_ => new List<TensorSpec>()).ToArray();
        foreach (var t in tensors)
        {
            if (t.Name is "model.norm.weight" or "lm_head.weight") head.Add(t);
            else if (t.Name == "model.embed_tokens.weight") embedding.Add(t);
            else if (t.Name.StartsWith("model.layers.", StringComparison.Ordinal)
                     && int.TryParse(t.Name.AsSpan(13, t.Name.IndexOf('.', 13) - 13), out int l) && (uint)l < (uint)layers)
                perLayer[l].Add(t);
            else throw new ArgumentException($"Tensor '{t.Name}' belongs to no gradient bucket (head, layer or embedding).", nameof(tensors));
        }
        var buckets = new List<GradientBucket> { new("head", Merge(head)) };
        for (int l = layers - 1; l >= 0; l--) buckets.Add(new($"layer {l}", Merge(perLayer[l])));
        buckets.Add(new("embedding", Merge(embedding)));
        return buckets.ToArray();
    }

    private static GradientRange[] Merge(List<TensorSpec> tensors)
    {
        var ranges = new List<GradientRange>();
        foreach (var t in tensors.OrderBy(t => t.Offset))
        {
            if (ranges.Count > 0 && ranges[^1].Offset + ranges[^1].Length == t.Offset)
                ranges[^1] = ranges[^1] with { Length = ranges[^1].Length + t.Length };
            else ranges.Add(new GradientRange(t.Offset, t.Length));
        }
        return ranges.ToArray();
    }
}

/// <summary>Elements [Offset, Offset + Length) of the flat parameter layout.</summary>
public readonly record struct GradientRange(long Offset, long Length);
