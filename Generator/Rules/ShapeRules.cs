// Shared source: compiled into the generator (QG diagnostics at build time) and, as a linked file, into the runtime
// (config.json checks when a snapshot is loaded), so both apply the same rules with the same messages.
// Plain C# only: no Roslyn, no System.Text.Json (the generator targets netstandard2.0).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Qwen3Gen.Rules;

/// <summary>
/// A definition's hyper-parameters as read from an attribute or a config.json, before any check: one field per row of
/// <see cref="HyperParameters.All"/> (other than RoPE scaling), read and defaulted through that table.
/// </summary>
internal sealed class ShapeValues
{
    public int Vocab, Hidden, Layers, Heads, KvHeads, Ffn, MaxPositions;
    public int? HeadDim;                          // null: not given, derived as Hidden / Heads (Hugging Face)
    public double RopeTheta, RmsNormEps;
    public int Experts, ExpertsPerToken, ExpertFfn, DecoderSparseStep;
    public int[] MlpOnlyLayers = new int[0];
    public double RouterAuxLossCoef;
    public bool TieEmbeddings, NormTopKProb, OutputRouterLogits;

    /// <summary>A field's name as the user wrote it (the property inline, the config.json key in a config).</summary>
    public Func<string, string> NameOf = static property => property;
}

/// <summary>One broken rule: the diagnostic id, the field it is about (null: several), the message format and its arguments.</summary>
internal sealed class ShapeProblem
{
    public ShapeProblem(string id, string? field, string format, object[] args)
    {
        Id = id; Field = field; Format = format; Args = args;
    }

    public string Id { get; }
    public string? Field { get; }
    public string Format { get; }
    public object[] Args { get; }
    public bool IsWarning => Id == ShapeRules.HiddenNotMultipleOf16Id;
    public string Message => string.Format(CultureInfo.InvariantCulture, Format, Args);
}

/// <summary>
/// Every check on the hyper-parameters, for inline definitions, config.json definitions and config.json files
/// read at run time alike. Field names are the [Qwen3Model] property names (ShapeValues.NameOf renders them).
/// </summary>
internal static class ShapeRules
{
    public const int MaxLayers = 4096;

    /// <summary>The largest .NET array (Array.MaxLength): the routing statistics are arrays of Experts (+ 1) entries.</summary>
    public const long MaxArrayLength = 0x7FFFFFC7;

    /// <summary>The most floats a flat buffer (weights, gradients, AdamW moments) may hold: its bytes must fit in a long.</summary>
    public const long MaxBufferElements = long.MaxValue / 8;

    // Message formats, the generator's descriptors use the same strings.
    public const string HeadsNotMultipleOfKvHeads = "Heads ({0}) must be a multiple of KvHeads ({1})";
    public const string OddHeadDim = "HeadDim ({0}) must be even: RoPE rotates pairs of dimensions";
    public const string NotPositive = "{0} ({1}) must be positive";
    public const string HiddenNotMultipleOf16 = "Hidden ({0}) is not a multiple of 16; kernels fall back to scalar tails on every row";
    public const string ExpertsPerTokenExceedsExperts = "ExpertsPerToken ({0}) exceeds Experts ({1})";
    public const string MoeSizeNotPositive = "{0} ({1}) must be positive in a MoE model (Experts = {2})";
    public const string MlpOnlyLayerOutOfRange = "{0} contains layer {1}, outside [0, {2}) for a model of {2} layers";
    public const string NegativeExperts = "{0} ({1}) must not be negative: 0 means a dense model";
    public const string NotFiniteOrOutOfRange = "{0} ({1}) must be a finite number {2}";
    public const string TensorTooLarge = "{0} would hold {1} = {2} elements, more than one tensor can index (2147483647)";
    public const string HeadDimNotDerivable = "{0} is not given and {1} ({2}) is not a multiple of {3} ({4}); give {0} explicitly";
    public const string TooManyLayers = "{0} ({1}) exceeds the supported maximum of {2} layers";
    public const string ModelTooLarge = "{0} would hold {1} elements, more than a buffer can address ({2})";

    public const string HiddenNotMultipleOf16Id = "QG0005";

    /// <summary>
    /// Boolean config.json switches for features Qwen3Gen does not implement: only false, null or absence is accepted.
    /// Python's transformers tests them for truth, so "no", "false", 1 or {} all switch the feature on there.
    /// </summary>
    public static readonly (string Key, string Why)[] FalseOnlyFlags =
    {
        ("use_sliding_window", "sliding-window attention is not implemented; every layer uses full causal attention"),
        ("attention_bias", "Qwen3 projections have no bias and Qwen3Gen implements none"),
        ("mlp_bias", "Qwen3 MLP projections have no bias and Qwen3Gen implements none"),
    };

    /// <summary>Checks <paramref name="d"/>; returns the head dimension (given or derived; 0 when neither works).</summary>
    public static int Check(ShapeValues d, List<ShapeProblem> problems)
    {
        void Report(string id, string? field, string format, params object[] args) => problems.Add(new ShapeProblem(id, field, format, args));
        string N(string field) => d.NameOf(field);
        string I(long x) => x.ToString(CultureInfo.InvariantCulture);
        void Positive(string field, int value)
        {
            if (value <= 0) Report("QG0003", field, NotPositive, N(field), value);
        }
        void FinitePositive(string field, double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value) || value <= 0)
                Report("QG0022", field, NotFiniteOrOutOfRange, N(field), value, "greater than 0");
        }

        // Generated tables and generation time grow with the layer count; no real model comes near the bound
        // (Qwen3-235B-A22B has 94 layers), an absurd count must not stall the compiler (QG0025).
        if (d.Layers > MaxLayers) Report("QG0025", "Layers", TooManyLayers, N("Layers"), d.Layers, MaxLayers);

        // Sizes (QG0003).
        Positive("Vocab", d.Vocab); Positive("Hidden", d.Hidden); Positive("Layers", d.Layers);
        Positive("Heads", d.Heads); Positive("KvHeads", d.KvHeads); Positive("MaxPositions", d.MaxPositions);
        Positive("DecoderSparseStep", d.DecoderSparseStep);

        // GQA: each K/V head serves Heads / KvHeads query heads (QG0001).
        if (d.Heads > 0 && d.KvHeads > 0 && d.Heads % d.KvHeads != 0)
            Report("QG0001", null, HeadsNotMultipleOfKvHeads, d.Heads, d.KvHeads);

        // head_dim is independent of hidden / heads (Qwen3-0.6B: 128 != 1024 / 16); Hugging Face derives it only
        // when absent (QG0024). RoPE rotates the pairs (j, j + D/2), so it must be even (QG0002).
        int headDim = 0;
        if (d.HeadDim is int given)
        {
            headDim = given;
            Positive("HeadDim", given);
        }
        else if (d.Hidden > 0 && d.Heads > 0)
        {
            if (d.Hidden % d.Heads == 0) headDim = d.Hidden / d.Heads;
            else Report("QG0024", null, HeadDimNotDerivable, N("HeadDim"), N("Hidden"), d.Hidden, N("Heads"), d.Heads);
        }
        if (headDim > 0 && headDim % 2 != 0) Report("QG0002", "HeadDim", OddHeadDim, headDim);

        FinitePositive("RopeTheta", d.RopeTheta);
        FinitePositive("RmsNormEps", d.RmsNormEps);
        if (double.IsNaN(d.RouterAuxLossCoef) || double.IsInfinity(d.RouterAuxLossCoef) || d.RouterAuxLossCoef < 0)
            Report("QG0022", "RouterAuxLossCoef", NotFiniteOrOutOfRange, N("RouterAuxLossCoef"), d.RouterAuxLossCoef, "at least 0");

        // Mixture of experts (spec §2.5).
        if (d.Experts < 0) Report("QG0020", "Experts", NegativeExperts, N("Experts"), d.Experts);
        if (d.Experts > 0)
        {
            if (d.ExpertsPerToken <= 0) Report("QG0018", "ExpertsPerToken", MoeSizeNotPositive, N("ExpertsPerToken"), d.ExpertsPerToken, d.Experts);
            else if (d.ExpertsPerToken > d.Experts) Report("QG0017", null, ExpertsPerTokenExceedsExperts, d.ExpertsPerToken, d.Experts);
            if (d.ExpertFfn <= 0) Report("QG0018", "ExpertFfn", MoeSizeNotPositive, N("ExpertFfn"), d.ExpertFfn, d.Experts);
        }
        if (d.Layers > 0)
            foreach (int layer in d.MlpOnlyLayers.Distinct())
                if (layer < 0 || layer >= d.Layers)
                    Report("QG0019", "MlpOnlyLayers", MlpOnlyLayerOutOfRange, N("MlpOnlyLayers"), layer, d.Layers);

        // The dense MLP size matters only when some layer is dense: a MoE model whose layers are all sparse
        // never uses intermediate_size (Qwen3-30B-A3B keeps an unused 6144 there). With step s != 1, layer 0
        // ((0 + 1) % s != 0) is dense; otherwise only mlp_only_layers are.
        bool anyDense = AnyDense(d);
        if (d.Ffn < 0 || (d.Ffn == 0 && anyDense)) Report("QG0003", "Ffn", NotPositive, N("Ffn"), d.Ffn);

        // Every tensor and every per-row work buffer is indexed with int: its element count must fit (QG0023).
        void Fits(string what, string a, long x, string b, long y)
        {
            if (x > 0 && y > 0 && x * y > int.MaxValue)
                Report("QG0023", null, TensorTooLarge, what, a + " (" + I(x) + ") x " + b + " (" + I(y) + ")", I(x * y));
        }
        string hidden = N("Hidden"), heads = N("Heads") + " * " + N("HeadDim"), kv = N("KvHeads") + " * " + N("HeadDim");
        Fits("model.embed_tokens.weight", N("Vocab"), d.Vocab, hidden, d.Hidden);
        Fits("model.layers.{i}.self_attn.q_proj.weight", heads, (long)d.Heads * headDim, hidden, d.Hidden);
        Fits("model.layers.{i}.self_attn.k_proj.weight", kv, (long)d.KvHeads * headDim, hidden, d.Hidden);
        if (anyDense) Fits("model.layers.{i}.mlp.gate_proj.weight", N("Ffn"), d.Ffn, hidden, d.Hidden);
        if (d.Experts > 0)
        {
            Fits("model.layers.{i}.mlp.gate.weight (the router)", N("Experts"), d.Experts, hidden, d.Hidden);
            Fits("model.layers.{i}.mlp.experts.{e}.gate_proj.weight", N("ExpertFfn"), d.ExpertFfn, hidden, d.Hidden);
            // Work buffers per row: the expert inputs/outputs [rows · top-k, Hidden] and activations [rows · top-k, ExpertFfn],
            // and the routing statistics (counts, offsets: Experts + 1 entries, .NET arrays).
            Fits("the expert activations of one row", N("ExpertsPerToken"), d.ExpertsPerToken, N("ExpertFfn"), d.ExpertFfn);
            Fits("the expert inputs of one row", N("ExpertsPerToken"), d.ExpertsPerToken, hidden, d.Hidden);
            if (d.Experts + 1L > MaxArrayLength)
                Report("QG0023", "Experts", TensorTooLarge, "the routing statistics (expert offsets)", N("Experts") + " + 1", I(d.Experts + 1L));
        }
        Fits("the RoPE tables", N("MaxPositions"), d.MaxPositions, N("HeadDim"), headDim);

        // The flat buffers (weights, gradients, AdamW m and v) hold every parameter (QG0026).
        if (d.Vocab > 0 && d.Hidden > 0 && d.Layers > 0 && headDim > 0 && d.Heads > 0 && d.KvHeads > 0)
        {
            int layers = Math.Min(d.Layers, MaxLayers);
            double total = ParameterCount(d.Vocab, d.Hidden, layers, d.Heads, d.KvHeads, headDim, d.Ffn, Math.Max(d.Experts, 0), d.ExpertFfn,
                d.TieEmbeddings, layer => IsSparse(d.Experts, d.MlpOnlyLayers, d.DecoderSparseStep, layer));
            if (total > MaxBufferElements)
                Report("QG0026", null, ModelTooLarge, "the flat parameter buffer", total.ToString("0", CultureInfo.InvariantCulture), I(MaxBufferElements));
        }

        // Vector paths work on 16 floats at a time; other widths still work, through scalar tails (QG0005).
        if (d.Hidden > 0 && d.Hidden % 16 != 0) Report(HiddenNotMultipleOf16Id, "Hidden", HiddenNotMultipleOf16, d.Hidden);
        return headDim;
    }

    /// <summary>True when some layer has the dense MLP (see Check).</summary>
    public static bool AnyDense(ShapeValues d) =>
        d.Experts <= 0 || d.DecoderSparseStep != 1 || d.MlpOnlyLayers.Any(i => i >= 0 && i < d.Layers);

    /// <summary>HF rule (Qwen3MoeDecoderLayer): layer i is sparse iff not in mlp_only_layers, Experts > 0 and (i+1) % step == 0.</summary>
    public static bool IsSparse(int experts, int[] mlpOnlyLayers, int decoderSparseStep, int layer) =>
        experts > 0 && Array.IndexOf(mlpOnlyLayers, layer) < 0 && decoderSparseStep > 0 && (layer + 1) % decoderSparseStep == 0;

    /// <summary>
    /// The number of parameters, counted the way the generated Layout stores them: embedding [Vocab, Hidden] (+ lm_head
    /// when untied); per layer q/k/v/o, a dense MLP (3 · Ffn · Hidden) or a sparse one (router Experts · Hidden +
    /// Experts · 3 · ExpertFfn · Hidden), the q/k norms and the two layer norms; the final norm. The one count: the
    /// generator's QG0026 bound and layout comment, and the runtime's MemoryBudget use it. In double: no overflow for
    /// any int inputs, exact below 2^53.
    /// </summary>
    public static double ParameterCount(int vocab, int hidden, int layers, int heads, int kvHeads, int headDim, int ffn,
                                        int experts, int expertFfn, bool tieEmbeddings, Func<int, bool> isSparse)
    {
        double h = hidden, q = (double)heads * headDim, kv = (double)kvHeads * headDim;
        double attention = (q + 2 * kv) * h + h * q;
        double dense = 3.0 * Math.Max(ffn, 0) * h;
        double sparse = (double)experts * h + (double)experts * 3.0 * Math.Max(expertFfn, 0) * h;
        double total = (double)vocab * h * (tieEmbeddings ? 1 : 2);
        for (int layer = 0; layer < layers; layer++) total += attention + (isSparse(layer) ? sparse : dense);
        return total + VectorCount(hidden, layers, headDim);
    }

    /// <summary>The 1-D norm weights (float32 in every format): per layer input, q, k and post-attention norms, and the final norm.</summary>
    public static double VectorCount(int hidden, int layers, int headDim) => (double)layers * (2.0 * hidden + 2.0 * headDim) + hidden;
}
