using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Diagnostics;
using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// Every check on the hyper-parameters, in one place, for inline and config.json definitions alike.
/// Single-field problems are located on that field's named argument (inline) and multi-field problems on
/// the attribute; config.json problems on the Config argument. Messages carry the numbers.
/// </summary>
internal static class ShapeValidator
{
    public const int MaxLayers = 4096;

    public static ModelShape Validate(ShapeDraft d, Location? attribute, List<DiagnosticInfo> diagnostics)
    {
        void Report(DiagnosticDescriptor descriptor, Location? at, params object[] args) =>
            diagnostics.Add(DiagnosticInfo.Create(descriptor, at ?? attribute, args));
        Location? At(string field) => d.LocationOf(field);
        Location? whole = d.FromConfig ? d.LocationOf(Fields.Config) : attribute;
        string N(string field) => d.NameOf(field);

        void Positive(string field, int value)
        {
            if (value <= 0) Report(Descriptors.NotPositive, At(field), N(field), value);
        }
        void FinitePositive(string field, double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value) || value <= 0)
                Report(Descriptors.NotFiniteOrOutOfRange, At(field), N(field), value, "greater than 0");
        }

        // Generated tables and generation time grow with the layer count; no real model comes near the bound
        // (Qwen3-235B-A22B has 94 layers), an absurd count must not stall the compiler (QG0025).
        if (d.Layers > MaxLayers) Report(Descriptors.TooManyLayers, At(Fields.Layers), N(Fields.Layers), d.Layers, MaxLayers);

        // Sizes (QG0003).
        Positive(Fields.Vocab, d.Vocab); Positive(Fields.Hidden, d.Hidden); Positive(Fields.Layers, d.Layers);
        Positive(Fields.Heads, d.Heads); Positive(Fields.KvHeads, d.KvHeads); Positive(Fields.MaxPositions, d.MaxPositions);
        Positive(Fields.DecoderSparseStep, d.DecoderSparseStep);

        // GQA: each K/V head serves Heads / KvHeads query heads (QG0001).
        if (d.Heads > 0 && d.KvHeads > 0 && d.Heads % d.KvHeads != 0)
            Report(Descriptors.HeadsNotMultipleOfKvHeads, whole, d.Heads, d.KvHeads);

        // head_dim is independent of hidden / heads (Qwen3-0.6B: 128 != 1024 / 16); Hugging Face derives it only
        // when absent (QG0024). RoPE rotates the pairs (j, j + D/2), so it must be even (QG0002).
        int headDim = 0;
        if (d.HeadDim is int given)
        {
            headDim = given;
            Positive(Fields.HeadDim, given);
        }
        else if (d.Hidden > 0 && d.Heads > 0)
        {
            if (d.Hidden % d.Heads == 0) headDim = d.Hidden / d.Heads;
            else Report(Descriptors.HeadDimNotDerivable, whole, N(Fields.HeadDim), N(Fields.Hidden), d.Hidden, N(Fields.Heads), d.Heads);
        }
        if (headDim > 0 && headDim % 2 != 0) Report(Descriptors.OddHeadDim, At(Fields.HeadDim), headDim);

        FinitePositive(Fields.RopeTheta, d.RopeTheta);
        FinitePositive(Fields.RmsNormEps, d.RmsNormEps);
        if (double.IsNaN(d.RouterAuxLossCoef) || double.IsInfinity(d.RouterAuxLossCoef) || d.RouterAuxLossCoef < 0)
            Report(Descriptors.NotFiniteOrOutOfRange, At(Fields.RouterAuxLossCoef), N(Fields.RouterAuxLossCoef), d.RouterAuxLossCoef, "at least 0");

        // RoPE scaling (spec §2.3.1): checked and resolved in one place.
        var rope = RopeValidator.Validate(d, (descriptor, at, args) => Report(descriptor, at, args), whole);

        // Mixture of experts (spec §2.5).
        if (d.Experts < 0) Report(Descriptors.NegativeExperts, At(Fields.Experts), N(Fields.Experts), d.Experts);
        if (d.Experts == 0 && !d.FromConfig)
        {
            var moeFields = Fields.MoeOnly.Where(d.Given.Contains).ToArray();
            if (moeFields.Length > 0) Report(Descriptors.MoeFieldsWithoutExperts, whole, string.Join(", ", moeFields));
        }
        if (d.Experts > 0)
        {
            if (d.ExpertsPerToken <= 0) Report(Descriptors.MoeSizeNotPositive, At(Fields.ExpertsPerToken), N(Fields.ExpertsPerToken), d.ExpertsPerToken, d.Experts);
            else if (d.ExpertsPerToken > d.Experts) Report(Descriptors.ExpertsPerTokenExceedsExperts, whole, d.ExpertsPerToken, d.Experts);
            if (d.ExpertFfn <= 0) Report(Descriptors.MoeSizeNotPositive, At(Fields.ExpertFfn), N(Fields.ExpertFfn), d.ExpertFfn, d.Experts);
        }
        if (d.Layers > 0)
            foreach (int layer in d.MlpOnlyLayers.Distinct())
                if (layer < 0 || layer >= d.Layers)
                    Report(Descriptors.MlpOnlyLayerOutOfRange, At(Fields.MlpOnlyLayers), N(Fields.MlpOnlyLayers), layer, d.Layers);

        // mlp_only_layers is a set to Hugging Face (`i in mlp_only_layers`): store it sorted and without repeats
        // so that equal definitions give equal specs.
        var mlpOnly = d.MlpOnlyLayers.Distinct().OrderBy(i => i).ToArray();
        var shape = new ModelShape(
            Vocab: d.Vocab, Hidden: d.Hidden, Layers: d.Layers, Heads: d.Heads, KvHeads: d.KvHeads, HeadDim: headDim,
            Ffn: d.Ffn, RopeTheta: d.RopeTheta, RmsNormEps: d.RmsNormEps, TieEmbeddings: d.TieEmbeddings,
            MaxPositions: d.MaxPositions, Experts: d.Experts, ExpertsPerToken: d.ExpertsPerToken, ExpertFfn: d.ExpertFfn,
            NormTopKProb: d.NormTopKProb, DecoderSparseStep: d.DecoderSparseStep,
            MlpOnlyLayers: new EquatableArray<int>(mlpOnly), RouterAuxLossCoef: d.RouterAuxLossCoef,
            OutputRouterLogits: d.OutputRouterLogits, Rope: rope);

        // The dense MLP size matters only when some layer is dense: a MoE model whose layers are all sparse
        // never uses intermediate_size (Qwen3-30B-A3B keeps an unused 6144 there). With step s != 1, layer 0
        // ((0 + 1) % s != 0) is dense; otherwise only mlp_only_layers are.
        bool anyDense = d.Experts <= 0 || d.DecoderSparseStep != 1 || mlpOnly.Any(i => i >= 0 && i < d.Layers);
        if (d.Ffn < 0 || (d.Ffn == 0 && anyDense)) Report(Descriptors.NotPositive, At(Fields.Ffn), N(Fields.Ffn), d.Ffn);

        // One tensor is indexed with int: its element count must fit (QG0023).
        void Fits(string tensor, string a, long x, string b, long y)
        {
            if (x > 0 && y > 0 && x * y > int.MaxValue)
                Report(Descriptors.TensorTooLarge, whole, tensor,
                    a + " (" + x.ToString(CultureInfo.InvariantCulture) + ") x " + b + " (" + y.ToString(CultureInfo.InvariantCulture) + ")",
                    (x * y).ToString(CultureInfo.InvariantCulture));
        }
        string hidden = N(Fields.Hidden);
        Fits("model.embed_tokens.weight", N(Fields.Vocab), d.Vocab, hidden, d.Hidden);
        Fits("model.layers.{i}.self_attn.q_proj.weight", N(Fields.Heads) + " * " + N(Fields.HeadDim), (long)d.Heads * headDim, hidden, d.Hidden);
        if (anyDense) Fits("model.layers.{i}.mlp.gate_proj.weight", N(Fields.Ffn), d.Ffn, hidden, d.Hidden);
        if (d.Experts > 0) Fits("model.layers.{i}.mlp.experts.{e}.gate_proj.weight", N(Fields.ExpertFfn), d.ExpertFfn, hidden, d.Hidden);
        Fits("the RoPE tables", N(Fields.MaxPositions), d.MaxPositions, N(Fields.HeadDim), headDim);

        // Vector paths work on 16 floats at a time; other widths still work, through scalar tails (QG0005).
        if (d.Hidden > 0 && d.Hidden % 16 != 0) Report(Descriptors.HiddenNotMultipleOf16, At(Fields.Hidden), d.Hidden);

        return shape;
    }
}
