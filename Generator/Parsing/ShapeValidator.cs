using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Diagnostics;
using Qwen3Gen.Generator.Model;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// Turns a <see cref="ShapeDraft"/> into a <see cref="ModelShape"/>, reporting every broken rule as a diagnostic.
/// The rules themselves live in <see cref="ShapeRules"/>, a source file the runtime compiles too (it checks a
/// snapshot's config.json with the same rules and messages). Single-field problems are located on that field's
/// named argument (inline) and multi-field problems on the attribute; config.json problems on the Config argument.
/// </summary>
internal static class ShapeValidator
{
    public const int MaxLayers = ShapeRules.MaxLayers;

    public static ModelShape Validate(ShapeDraft d, Location? attribute, List<DiagnosticInfo> diagnostics)
    {
        Location? whole = d.FromConfig ? d.LocationOf(Fields.Config) : attribute;
        var values = d.Values;
        values.NameOf = d.NameOf;
        var problems = new List<ShapeProblem>();
        int headDim = ShapeRules.Check(values, problems);
        foreach (var problem in problems)
        {
            var at = problem.Field is string field ? d.LocationOf(field) ?? attribute : whole;
            diagnostics.Add(DiagnosticInfo.Create(Descriptors.ById(problem.Id), at, problem.Args));
        }

        // RoPE scaling (spec §2.3.1): checked and resolved in one place.
        var rope = RopeValidator.Validate(d, (descriptor, at, args) => diagnostics.Add(DiagnosticInfo.Create(descriptor, at ?? attribute, args)), whole);

        // MoE fields written inline on a dense model are a mistake (QG0021); a config.json may carry them unused.
        if (d.Values.Experts == 0 && !d.FromConfig)
        {
            var moeFields = Fields.MoeOnly.Where(d.Given.Contains).ToArray();
            if (moeFields.Length > 0) diagnostics.Add(DiagnosticInfo.Create(Descriptors.MoeFieldsWithoutExperts, whole, string.Join(", ", moeFields)));
        }

        // mlp_only_layers is a set to Hugging Face (`i in mlp_only_layers`): store it sorted and without repeats
        // so that equal definitions give equal specs.
        var v = d.Values;
        var mlpOnly = v.MlpOnlyLayers.Distinct().OrderBy(i => i).ToArray();
        return new ModelShape(
            Vocab: v.Vocab, Hidden: v.Hidden, Layers: v.Layers, Heads: v.Heads, KvHeads: v.KvHeads, HeadDim: headDim,
            Ffn: v.Ffn, RopeTheta: v.RopeTheta, RmsNormEps: v.RmsNormEps, TieEmbeddings: v.TieEmbeddings,
            MaxPositions: v.MaxPositions, Experts: v.Experts, ExpertsPerToken: v.ExpertsPerToken, ExpertFfn: v.ExpertFfn,
            NormTopKProb: v.NormTopKProb, DecoderSparseStep: v.DecoderSparseStep,
            MlpOnlyLayers: new EquatableArray<int>(mlpOnly), RouterAuxLossCoef: v.RouterAuxLossCoef,
            OutputRouterLogits: v.OutputRouterLogits, Rope: rope);
    }
}
