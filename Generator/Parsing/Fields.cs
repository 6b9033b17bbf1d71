using System.Linq;
using Qwen3Gen.Rules;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// The [Qwen3Model] property names the parser's code names: Config, and the RoPE scaling rows (read apart into a
/// RopeDraft); every other row is read by iterating <see cref="HyperParameters.All"/>.
/// Messages name a field the way the user wrote it: the property for inline definitions, the key for config.json.
/// </summary>
internal static class Fields
{
    public const string Config = nameof(Config);
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
}
