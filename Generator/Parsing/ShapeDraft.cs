using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// The hyper-parameters as read from one source (inline attribute values or a config.json), with that
/// source's defaults applied but nothing checked yet. <see cref="ShapeValidator"/> turns it into a
/// <see cref="Model.ModelShape"/>. Lives only inside one parse, so it may hold Roslyn locations.
/// </summary>
internal sealed class ShapeDraft
{
    public int Vocab, Hidden, Layers, Heads, KvHeads, Ffn, MaxPositions;
    public int? HeadDim;                          // null: not given, derive Hidden / Heads as Hugging Face does
    public double RopeTheta, RmsNormEps;
    public bool TieEmbeddings;
    public int Experts, ExpertsPerToken, ExpertFfn, DecoderSparseStep = 1;
    public bool NormTopKProb, OutputRouterLogits;
    public int[] MlpOnlyLayers = Array.Empty<int>();
    public double RouterAuxLossCoef = 0.001;
    public RopeDraft Rope = RopeDraft.Default;    // rope_scaling / rope_parameters as given, defaults not applied

    /// <summary>True when read from config.json: messages then use its keys, and QG0021 does not apply.</summary>
    public bool FromConfig;

    /// <summary>Properties written explicitly (inline), for QG0021.</summary>
    public readonly HashSet<string> Given = new(StringComparer.Ordinal);

    /// <summary>Where a field's diagnostic goes: its named argument, else the attribute (or the Config argument).</summary>
    public Func<string, Location?> LocationOf = static _ => null;

    /// <summary>A field's name as the user wrote it.</summary>
    public string NameOf(string property)
    {
        if (!FromConfig) return property;
        string key = Fields.JsonKey(property);
        // RoPE keys live in whichever object the config used (rope_scaling or rope_parameters).
        return key.StartsWith("rope_scaling.", StringComparison.Ordinal) ? Rope.Object + key.Substring("rope_scaling".Length) : key;
    }
}
