using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using Qwen3Gen.Generator.Diagnostics;
using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// Validates a <see cref="Definition"/> (inline values or a config.json) into a <see cref="ModelSpec"/>.
/// All decisions are made here; the emitter only writes.
/// </summary>
internal static class ModelParser
{
    public static ParseResult Parse(Definition definition, EquatableArray<ConfigFile> configs, CancellationToken ct)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var at = definition.AttributeLocation?.ToLocation();

        if (!definition.IsPartial)
        {
            diagnostics.Add(DiagnosticInfo.Create(Descriptors.NotPartial, definition.ClassLocation?.ToLocation() ?? at, definition.ClassName));
            return new ParseResult(null, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
        }

        var v = new Dictionary<string, NamedValue>();
        foreach (var value in definition.Values) v[value.Name] = value;

        int Int(string name, int fallback) => v.TryGetValue(name, out var x) && x.Kind == NamedValue.KindInt ? int.Parse(x.Value, CultureInfo.InvariantCulture) : fallback;
        double Dbl(string name, double fallback) => v.TryGetValue(name, out var x) && (x.Kind == NamedValue.KindDouble || x.Kind == NamedValue.KindInt) ? double.Parse(x.Value, CultureInfo.InvariantCulture) : fallback;
        bool Bool(string name, bool fallback) => v.TryGetValue(name, out var x) && x.Kind == NamedValue.KindBool ? x.Value == "true" : fallback;
        EquatableArray<int> Ints(string name) => v.TryGetValue(name, out var x) && x.Kind == NamedValue.KindIntArray ? x.IntArray : EquatableArray<int>.Empty;

        var shape = new ModelShape(
            Vocab: Int("Vocab", 0), Hidden: Int("Hidden", 0), Layers: Int("Layers", 0),
            Heads: Int("Heads", 0), KvHeads: Int("KvHeads", 0), HeadDim: Int("HeadDim", 0), Ffn: Int("Ffn", 0),
            RopeTheta: Dbl("RopeTheta", 1e6), RmsNormEps: Dbl("RmsNormEps", 1e-6),
            TieEmbeddings: Bool("TieEmbeddings", false), MaxPositions: Int("MaxPositions", 40960),
            Experts: Int("Experts", 0), ExpertsPerToken: Int("ExpertsPerToken", 0), ExpertFfn: Int("ExpertFfn", 0),
            NormTopKProb: Bool("NormTopKProb", false), DecoderSparseStep: Int("DecoderSparseStep", 1),
            MlpOnlyLayers: Ints("MlpOnlyLayers"), RouterAuxLossCoef: Dbl("RouterAuxLossCoef", 0.001),
            OutputRouterLogits: Bool("OutputRouterLogits", false));

        Validate(shape, at, diagnostics);
        ct.ThrowIfCancellationRequested();

        bool failed = diagnostics.Exists(d => Descriptors.ById(d.Id).DefaultSeverity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error);
        var spec = failed ? null : new ModelSpec(definition.Namespace, definition.ClassName, definition.Accessibility, shape);
        return new ParseResult(spec, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
    }

    private static void Validate(ModelShape s, Microsoft.CodeAnalysis.Location? at, List<DiagnosticInfo> diagnostics)
    {
        void Positive(string name, int value)
        {
            if (value <= 0) diagnostics.Add(DiagnosticInfo.Create(Descriptors.NotPositive, at, name, value));
        }
        Positive("Vocab", s.Vocab); Positive("Hidden", s.Hidden); Positive("Layers", s.Layers);
        Positive("Heads", s.Heads); Positive("KvHeads", s.KvHeads); Positive("HeadDim", s.HeadDim);
        Positive("Ffn", s.Ffn); Positive("MaxPositions", s.MaxPositions);
        if (s.Heads > 0 && s.KvHeads > 0 && s.Heads % s.KvHeads != 0)
            diagnostics.Add(DiagnosticInfo.Create(Descriptors.HeadsNotMultipleOfKvHeads, at, s.Heads, s.KvHeads));
        if (s.HeadDim > 0 && s.HeadDim % 2 != 0)
            diagnostics.Add(DiagnosticInfo.Create(Descriptors.OddHeadDim, at, s.HeadDim));
    }
}
