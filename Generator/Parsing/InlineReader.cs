using System.Collections.Generic;
using System.Globalization;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// Inline [Qwen3Model(...)] values -> <see cref="ShapeDraft"/>. Defaults are the attribute's documented ones
/// (RopeTheta 1e6, RmsNormEps 1e-6, MaxPositions 40960, DecoderSparseStep 1, RouterAuxLossCoef 0.001, RopeType "default");
/// a missing size stays 0 and the validator reports it.
/// </summary>
internal static class InlineReader
{
    public static ShapeDraft Read(EquatableArray<NamedValue> values, Location? attribute)
    {
        var byName = new Dictionary<string, NamedValue>();
        foreach (var value in values) byName[value.Name] = value;

        int Int(string name, int fallback) =>
            byName.TryGetValue(name, out var x) && x.Kind == NamedValue.KindInt ? int.Parse(x.Value, CultureInfo.InvariantCulture) : fallback;
        double Dbl(string name, double fallback) =>
            byName.TryGetValue(name, out var x) && (x.Kind == NamedValue.KindDouble || x.Kind == NamedValue.KindInt)
                ? double.Parse(x.Value, NumberStyles.Float, CultureInfo.InvariantCulture) : fallback;
        bool Bool(string name, bool fallback) =>
            byName.TryGetValue(name, out var x) && x.Kind == NamedValue.KindBool ? x.Value == "true" : fallback;

        double? OptDbl(string name) => byName.ContainsKey(name) ? Dbl(name, 0) : null;
        string RopeType() =>
            byName.TryGetValue(Fields.RopeType, out var x) && x.Kind == NamedValue.KindString ? x.Value : "default";

        var draft = new ShapeDraft
        {
            Vocab = Int(Fields.Vocab, 0),
            Hidden = Int(Fields.Hidden, 0),
            Layers = Int(Fields.Layers, 0),
            Heads = Int(Fields.Heads, 0),
            KvHeads = Int(Fields.KvHeads, 0),
            HeadDim = byName.ContainsKey(Fields.HeadDim) ? Int(Fields.HeadDim, 0) : null,
            Ffn = Int(Fields.Ffn, 0),
            RopeTheta = Dbl(Fields.RopeTheta, 1e6),
            RmsNormEps = Dbl(Fields.RmsNormEps, 1e-6),
            TieEmbeddings = Bool(Fields.TieEmbeddings, false),
            MaxPositions = Int(Fields.MaxPositions, 40960),
            Experts = Int(Fields.Experts, 0),
            ExpertsPerToken = Int(Fields.ExpertsPerToken, 0),
            ExpertFfn = Int(Fields.ExpertFfn, 0),
            NormTopKProb = Bool(Fields.NormTopKProb, false),
            DecoderSparseStep = Int(Fields.DecoderSparseStep, 1),
            MlpOnlyLayers = byName.TryGetValue(Fields.MlpOnlyLayers, out var layers) && layers.Kind == NamedValue.KindIntArray
                ? layers.IntArray.AsSpan().ToArray() : new int[0],
            RouterAuxLossCoef = Dbl(Fields.RouterAuxLossCoef, 0.001),
            OutputRouterLogits = Bool(Fields.OutputRouterLogits, false),
            Rope = new RopeDraft(RopeType(), OptDbl(Fields.RopeFactor),
                byName.ContainsKey(Fields.RopeOriginalMaxPositions) ? Int(Fields.RopeOriginalMaxPositions, 0) : null,
                OptDbl(Fields.RopeBetaFast), OptDbl(Fields.RopeBetaSlow), OptDbl(Fields.RopeAttentionFactor),
                OptDbl(Fields.RopeMscale), OptDbl(Fields.RopeMscaleAllDim),
                byName.ContainsKey(Fields.RopeTruncate) ? Bool(Fields.RopeTruncate, true) : null),
            FromConfig = false,
            LocationOf = name => byName.TryGetValue(name, out var x) && x.Location is not null ? x.Location.ToLocation() : attribute,
        };
        foreach (var name in byName.Keys) draft.Given.Add(name);
        return draft;
    }
}
