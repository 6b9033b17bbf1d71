using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using Qwen3Gen.Generator.Diagnostics;
using Qwen3Gen.Generator.Model;

namespace Qwen3Gen.Generator.Parsing;

/// <summary>
/// Checks the RoPE scaling of a definition and resolves its defaults the way transformers'
/// _compute_linear_scaling_rope_parameters / _compute_yarn_parameters do (spec §2.3.1):
/// original_max_position_embeddings defaults to max_position_embeddings, beta_fast / beta_slow to 32 / 1,
/// truncate to true, attention_factor to m(s, mscale) / m(s, mscale_all_dim) when both are given and non-zero,
/// else m(s, 1), with m(s, k) = 1 for s ≤ 1 and 0.1·k·ln(s) + 1 otherwise. The factor is used as written.
/// </summary>
internal static class RopeValidator
{
    public static readonly string[] Implemented = { "default", "linear", "yarn" };

    public static RopeSpec? Validate(ShapeDraft d, Action<DiagnosticDescriptor, Location?, object[]> report, Location? whole)
    {
        var r = d.Rope;
        string N(string field) => d.NameOf(field);
        Location? At(string field) => d.LocationOf(field);

        // config.json rope types other than these were refused by name while reading (QG0014).
        if (Array.IndexOf(Implemented, r.Type) < 0)
        {
            report(Descriptors.UnknownRopeType, At(Fields.RopeType), new object[] { r.Type, Why(r.Type) });
            return null;
        }

        // Inline: a scaling field that the chosen type does not read is a mistake (Hugging Face ignores unknown keys
        // of a config.json, so config files keep that behaviour).
        if (!d.FromConfig)
        {
            var unused = r.Type == "default" ? r.GivenFields().ToArray()
                       : r.Type == "linear" ? r.GivenFields().Where(f => Fields.YarnOnly.Contains(f)).ToArray()
                       : Array.Empty<string>();
            if (unused.Length > 0)
                report(Descriptors.RopeFieldUnused, At(unused[0]), new object[] { string.Join(", ", unused), N(Fields.RopeType), r.Type });
        }
        if (r.Type == "default") return null;

        if (r.Factor is not double factor)
        {
            report(Descriptors.RopeFactorMissing, d.FromConfig ? whole : At(Fields.RopeType), new object[] { N(Fields.RopeType), r.Type, N(Fields.RopeFactor) });
            return null;
        }
        bool ok = true;
        void Range(string field, double? value, Func<double, bool> valid, string expected)
        {
            if (value is double v && (double.IsNaN(v) || double.IsInfinity(v) || !valid(v)))
            {
                report(Descriptors.NotFiniteOrOutOfRange, At(field), new object[] { N(field), v, expected });
                ok = false;
            }
        }
        Range(Fields.RopeFactor, factor, v => v >= 1, "at least 1");
        Range(Fields.RopeBetaFast, r.BetaFast, v => v > 0, "greater than 0");
        Range(Fields.RopeBetaSlow, r.BetaSlow, v => v > 0, "greater than 0");
        Range(Fields.RopeAttentionFactor, r.AttentionFactor, v => v > 0, "greater than 0");
        Range(Fields.RopeMscale, r.Mscale, _ => true, "");
        Range(Fields.RopeMscaleAllDim, r.MscaleAllDim, _ => true, "");
        if (r.OriginalMaxPositions is int given && given <= 0)
        {
            report(Descriptors.NotPositive, At(Fields.RopeOriginalMaxPositions), new object[] { N(Fields.RopeOriginalMaxPositions), given });
            ok = false;
        }
        if (!ok) return null;

        int original = r.OriginalMaxPositions ?? d.Values.MaxPositions;
        if (r.Type == "linear") return new RopeSpec("linear", factor, original, 32, 1, 1, true);
        double attention = r.AttentionFactor ?? DefaultAttentionFactor(factor, r.Mscale, r.MscaleAllDim);
        return new RopeSpec("yarn", factor, original, r.BetaFast ?? 32, r.BetaSlow ?? 1, attention, r.Truncate ?? true);
    }

    /// <summary>transformers' get_mscale: attention_factor when none is given.</summary>
    public static double DefaultAttentionFactor(double factor, double? mscale, double? mscaleAllDim)
    {
        static double M(double s, double k) => s <= 1 ? 1.0 : 0.1 * k * Math.Log(s) + 1.0;
        return mscale is double a && a != 0 && mscaleAllDim is double b && b != 0 ? M(factor, a) / M(factor, b) : M(factor, 1);
    }

    /// <summary>Why a known rope type is not implemented (empty for unknown names).</summary>
    public static string Why(string type) => type switch
    {
        "dynamic" => ": dynamic NTK recomputes the frequencies from the current sequence length, which one precomputed table cannot hold",
        "longrope" => ": LongRoPE needs per-dimension factor lists that no Qwen3 release uses",
        "llama3" => ": the Llama 3 frequency bands are not used by any Qwen3 release",
        _ => "",
    };
}
