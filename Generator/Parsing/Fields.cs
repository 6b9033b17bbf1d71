using System.Linq;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// The definition fields by [Qwen3Model] property name (the names of <see cref="HyperParameters.All"/>, as constants
/// the parser's code can name).
/// Messages name a field the way the user wrote it: the property for inline definitions, the key for config.json.
/// </summary>
internal static class Fields
{
    public const string Config = nameof(Config);
    public const string Vocab = nameof(Vocab);
    public const string Hidden = nameof(Hidden);
    public const string Layers = nameof(Layers);
    public const string Heads = nameof(Heads);
    public const string KvHeads = nameof(KvHeads);
    public const string HeadDim = nameof(HeadDim);
    public const string Ffn = nameof(Ffn);
    public const string RopeTheta = nameof(RopeTheta);
    public const string RmsNormEps = nameof(RmsNormEps);
    public const string TieEmbeddings = nameof(TieEmbeddings);
    public const string MaxPositions = nameof(MaxPositions);
    public const string Experts = nameof(Experts);
    public const string ExpertsPerToken = nameof(ExpertsPerToken);
    public const string ExpertFfn = nameof(ExpertFfn);
    public const string NormTopKProb = nameof(NormTopKProb);
    public const string DecoderSparseStep = nameof(DecoderSparseStep);
    public const string MlpOnlyLayers = nameof(MlpOnlyLayers);
    public const string RouterAuxLossCoef = nameof(RouterAuxLossCoef);
    public const string OutputRouterLogits = nameof(OutputRouterLogits);
    public const string RopeType = nameof(RopeType);
    public const string RopeFactor = nameof(RopeFactor);
    public const string RopeOriginalMaxPositions = nameof(RopeOriginalMaxPositions);
    public const string RopeBetaFast = nameof(RopeBetaFast);
    public const string RopeBetaSlow = nameof(RopeBetaSlow);
    public const string RopeAttentionFactor = nameof(RopeAttentionFactor);
    public const string RopeMscale = nameof(RopeMscale);
    public const string RopeMscaleAllDim = nameof(RopeMscaleAllDim);
    public const string RopeTruncate = nameof(RopeTruncate);

    /// <summary>The MoE-only fields: giving any of them inline without Experts is an error (QG0021).</summary>
    public static readonly string[] MoeOnly = HyperParameters.MoeOnly().Select(f => f.Name).ToArray();

    /// <summary>The config.json key of a property (the table's, <see cref="HyperParameters"/>).</summary>
    public static string JsonKey(string property) => HyperParameters.JsonKey(property);
}
