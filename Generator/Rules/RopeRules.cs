// Shared source: compiled into the generator and, as a linked file, into the runtime. One reader and one set of checks
// for RoPE scaling (rope_scaling / rope_parameters, or the inline Rope* fields), with the generator's messages.
using System;
using System.Collections.Generic;
using System.Linq;

namespace Qwen3Gen.Rules;

/// <summary>
/// RoPE scaling as written (inline Rope* fields, or config.json's rope_scaling / rope_parameters object), before
/// defaults and checks: null means "not given". <see cref="RopeRules.Check"/> resolves it.
/// </summary>
internal sealed record RopeDraft(
    string Type,                   // rope_type: "default", "linear", "yarn" (others are refused)
    double? Factor,                // factor
    int? OriginalMaxPositions,     // original_max_position_embeddings
    double? BetaFast,              // beta_fast
    double? BetaSlow,              // beta_slow
    double? AttentionFactor,       // attention_factor
    double? Mscale,                // mscale
    double? MscaleAllDim,          // mscale_all_dim
    bool? Truncate,                // truncate
    string Object = "rope_scaling") // the config.json object it came from (for messages)
{
    public static readonly RopeDraft Default = new("default", null, null, null, null, null, null, null, null);

    /// <summary>The scaling fields given (property names), for "given but unused" checks.</summary>
    public System.Collections.Generic.IEnumerable<string> GivenFields()
    {
        if (Factor is not null) yield return "RopeFactor";
        if (OriginalMaxPositions is not null) yield return "RopeOriginalMaxPositions";
        if (BetaFast is not null) yield return "RopeBetaFast";
        if (BetaSlow is not null) yield return "RopeBetaSlow";
        if (AttentionFactor is not null) yield return "RopeAttentionFactor";
        if (Mscale is not null) yield return "RopeMscale";
        if (MscaleAllDim is not null) yield return "RopeMscaleAllDim";
        if (Truncate is not null) yield return "RopeTruncate";
    }
}

/// <summary>A RoPE scaling with every default resolved (spec §2.3.1). Type "default" ignores the other fields.</summary>
internal sealed record RopeResolved(string Type, double Factor, int OriginalMaxPositions, double BetaFast, double BetaSlow,
                                    double AttentionFactor, bool Truncate);

/// <summary>
/// Reads config.json's RoPE scaling the way transformers does — <c>rope_scaling</c> (4.x) or <c>rope_parameters</c> (5.x),
/// <c>rope_type</c> or the older <c>type</c>; "default" (or none) is no scaling; "linear" and "yarn" are implemented; other
/// types are refused by name (QG0014) — and checks and resolves a scaling the way transformers'
/// _compute_linear_scaling_rope_parameters / _compute_yarn_parameters do: original_max_position_embeddings defaults to
/// max_position_embeddings, beta_fast / beta_slow to 32 / 1, truncate to true, attention_factor to m(s, mscale) /
/// m(s, mscale_all_dim) when both are given and non-zero, else m(s, 1), with m(s, k) = 1 for s ≤ 1 and 0.1·k·ln(s) + 1
/// otherwise. The factor is used as written.
/// </summary>
internal static class RopeRules
{
    public static readonly string[] Implemented = { "default", "linear", "yarn" };

    public const string UnknownRopeType = "RopeType '{0}' is not supported: Qwen3Gen implements \"default\", \"linear\" and \"yarn\"{1}";
    public const string RopeFieldUnused = "{0} given but {1} is '{2}', which does not use it: set {1} = \"yarn\", or remove it";
    public const string RopeFactorMissing = "{0} is '{1}' but {2} is not given: the scaling needs its factor (Qwen3 with YaRN: 4.0 for 131,072 positions)";

    /// <summary>The fields only YaRN reads.</summary>
    public static readonly string[] YarnOnly = { "RopeBetaFast", "RopeBetaSlow", "RopeAttentionFactor", "RopeMscale", "RopeMscaleAllDim", "RopeTruncate" };

    /// <summary>A RoPE field's name in a config.json: its key inside the object the config used.</summary>
    public static string ConfigName(string property, string ropeObject)
    {
        string key = HyperParameters.JsonKey(property);
        return key.StartsWith("rope_scaling.", StringComparison.Ordinal) ? ropeObject + key.Substring("rope_scaling".Length) : key;
    }

    /// <summary>config.json's scaling (QG0013 / QG0014 problems for what is malformed or not implemented).</summary>
    public static RopeDraft ReadConfig(JsonValue root, string path, List<ShapeProblem> problems)
    {
        var scaling = ReadObject(root, "rope_scaling", path, problems);
        var parameters = ReadObject(root, "rope_parameters", path, problems);
        if (scaling.Type != "default" && parameters.Type != "default" && scaling with { Object = "" } != parameters with { Object = "" })
            Invalid(problems, path, "rope_parameters", "a different scaling from rope_scaling", "the same scaling as rope_scaling (or only one of them)");
        return scaling.Type != "default" ? scaling : parameters;
    }

    private static void Invalid(List<ShapeProblem> problems, string path, string key, string found, string expected) =>
        problems.Add(new ShapeProblem(ConfigFields.InvalidFieldId, null, ConfigFields.InvalidField, new object[] { path, key, found, expected }));

    private static RopeDraft ReadObject(JsonValue root, string key, string path, List<ShapeProblem> problems)
    {
        var value = root[key];
        if (value is null || value.Kind == JsonKind.Null) return RopeDraft.Default;
        if (value.Kind != JsonKind.Object) { Invalid(problems, path, key, value.Describe(), "an object or null"); return RopeDraft.Default; }
        var type = value["rope_type"] ?? value["type"];
        if (type is null || type.Kind == JsonKind.Null)
        {
            if (key == "rope_parameters") return RopeDraft.Default;    // v5 writes rope_type, but default is implied
            Invalid(problems, path, key, "an object without rope_type", "\"rope_type\": \"default\", \"linear\" or \"yarn\"");
            return RopeDraft.Default;
        }
        if (type.Kind != JsonKind.String) { Invalid(problems, path, key + ".rope_type", type.Describe(), "a string"); return RopeDraft.Default; }
        if (type.Text == "default") return RopeDraft.Default;
        if (type.Text != "linear" && type.Text != "yarn")
        {
            problems.Add(new ShapeProblem(ConfigFields.UnsupportedId, null, ConfigFields.Unsupported,
                new object[] { path, key + ".rope_type", type.Describe(), "Qwen3Gen implements \"default\", \"linear\" and \"yarn\"" + Why(type.Text) }));
            return RopeDraft.Default;
        }

        double? Number(string name)
        {
            var v = value[name];
            if (v is null || v.Kind == JsonKind.Null) return null;
            if (v.Kind == JsonKind.Number) return v.Number;
            Invalid(problems, path, key + "." + name, v.Describe(), "a number");
            return null;
        }
        int? Integer(string name)
        {
            var v = value[name];
            if (v is null || v.Kind == JsonKind.Null) return null;
            if (v.Kind == JsonKind.Number && Math.Floor(v.Number) == v.Number && Math.Abs(v.Number) <= int.MaxValue) return (int)v.Number;
            Invalid(problems, path, key + "." + name, v.Describe(), "an integer within int range");
            return null;
        }
        bool? Flag(string name)
        {
            var v = value[name];
            if (v is null || v.Kind == JsonKind.Null) return null;
            if (v.Kind == JsonKind.True) return true;
            if (v.Kind == JsonKind.False) return false;
            Invalid(problems, path, key + "." + name, v.Describe(), "true or false");
            return null;
        }
        return new RopeDraft(type.Text, Number("factor"), Integer("original_max_position_embeddings"),
            Number("beta_fast"), Number("beta_slow"), Number("attention_factor"), Number("mscale"), Number("mscale_all_dim"),
            Flag("truncate"), key);
    }

    /// <summary>
    /// Checks <paramref name="r"/> and resolves its defaults; null when it is "default" or has a problem. Problems name
    /// their field (Field: the property) so the generator can locate them; <paramref name="nameOf"/> writes names as the
    /// user did. Inline (<paramref name="fromConfig"/> false), a field the chosen type does not read is a mistake (QG0028);
    /// Hugging Face ignores unknown keys of a config.json, so config files keep that behaviour.
    /// </summary>
    public static RopeResolved? Check(RopeDraft r, int maxPositions, bool fromConfig, Func<string, string> nameOf, List<ShapeProblem> problems)
    {
        void Report(string id, string? field, string format, params object[] args) => problems.Add(new ShapeProblem(id, field, format, args));
        if (Array.IndexOf(Implemented, r.Type) < 0)
        {
            Report("QG0027", "RopeType", UnknownRopeType, r.Type, Why(r.Type));
            return null;
        }
        if (!fromConfig)
        {
            var unused = r.Type == "default" ? r.GivenFields().ToArray()
                       : r.Type == "linear" ? r.GivenFields().Where(f => YarnOnly.Contains(f)).ToArray()
                       : new string[0];
            if (unused.Length > 0) Report("QG0028", unused[0], RopeFieldUnused, string.Join(", ", unused), nameOf("RopeType"), r.Type);
        }
        if (r.Type == "default") return null;

        if (r.Factor is not double factor)
        {
            Report("QG0029", fromConfig ? null : "RopeType", RopeFactorMissing, nameOf("RopeType"), r.Type, nameOf("RopeFactor"));
            return null;
        }
        bool ok = true;
        void Range(string field, double? value, Func<double, bool> valid, string expected)
        {
            if (value is double v && (double.IsNaN(v) || double.IsInfinity(v) || !valid(v)))
            {
                Report("QG0022", field, ShapeRules.NotFiniteOrOutOfRange, nameOf(field), v, expected);
                ok = false;
            }
        }
        Range("RopeFactor", factor, v => v >= 1, "at least 1");
        Range("RopeBetaFast", r.BetaFast, v => v > 0, "greater than 0");
        Range("RopeBetaSlow", r.BetaSlow, v => v > 0, "greater than 0");
        Range("RopeAttentionFactor", r.AttentionFactor, v => v > 0, "greater than 0");
        Range("RopeMscale", r.Mscale, _ => true, "");
        Range("RopeMscaleAllDim", r.MscaleAllDim, _ => true, "");
        if (r.OriginalMaxPositions is int given && given <= 0)
        {
            Report("QG0003", "RopeOriginalMaxPositions", ShapeRules.NotPositive, nameOf("RopeOriginalMaxPositions"), given);
            ok = false;
        }
        if (!ok) return null;

        int original = r.OriginalMaxPositions ?? maxPositions;
        if (r.Type == "linear") return new RopeResolved("linear", factor, original, 32, 1, 1, true);
        double attention = r.AttentionFactor ?? DefaultAttentionFactor(factor, r.Mscale, r.MscaleAllDim);
        return new RopeResolved("yarn", factor, original, r.BetaFast ?? 32, r.BetaSlow ?? 1, attention, r.Truncate ?? true);
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
