using System.Globalization;
using System.Text.Json;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Models;

/// <summary>
/// Reads config.json's RoPE scaling the way transformers does: <c>rope_scaling</c> (4.x) or <c>rope_parameters</c>
/// (5.x), <c>rope_type</c> or the older <c>type</c>; "default" (or none) means no scaling; "linear" and "yarn" are
/// implemented; every other type ("dynamic", "longrope", "llama3", ...) is refused by name. The same rules as the
/// generator's reader (diagnostics QG0014, QG0022, QG0027–QG0029).
/// </summary>
public static class RopeScalingJson
{
    /// <summary>The scaling of <paramref name="root"/> (a config.json object) whose max_position_embeddings is <paramref name="maxPositions"/>.</summary>
    /// <exception cref="InvalidDataException">A field has the wrong type or an invalid value, or the two objects disagree.</exception>
    /// <exception cref="NotSupportedException">A rope type other than default, linear and yarn.</exception>
    public static RopeScaling Read(JsonElement root, int maxPositions, string source = "config.json")
    {
        var fromScaling = ReadOne(root, "rope_scaling", maxPositions, source);
        var fromParameters = ReadOne(root, "rope_parameters", maxPositions, source);
        if (fromScaling.Type != RopeType.Default && fromParameters.Type != RopeType.Default && fromScaling != fromParameters)
            throw new InvalidDataException($"{source}: rope_scaling ({fromScaling}) and rope_parameters ({fromParameters}) describe different RoPE scalings; keep one.");
        return fromScaling.Type != RopeType.Default ? fromScaling : fromParameters;
    }

    private static RopeScaling ReadOne(JsonElement root, string key, int maxPositions, string source)
    {
        if (!root.TryGetProperty(key, out var o) || o.ValueKind == JsonValueKind.Null) return RopeScaling.None;
        if (o.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: {key} is {o.ValueKind}; expected an object or null.");

        string? type = null;
        foreach (var name in (string[])["rope_type", "type"])
            if (o.TryGetProperty(name, out var t) && t.ValueKind != JsonValueKind.Null)
            {
                if (t.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{source}: {key}.{name} is {t.ValueKind}; expected a string.");
                type = t.GetString();
                break;
            }
        if (type is null or "default") return RopeScaling.None;   // rope_parameters without rope_type holds only rope_theta
        if (type is not ("linear" or "yarn"))
            throw new NotSupportedException($"{source}: {key}.rope_type is '{type}'; Qwen3Gen implements 'default', 'linear' and 'yarn'" +
                (type == "dynamic" ? " (dynamic NTK changes the frequencies with the sequence length, which one table per session cannot hold)." : "."));

        double? Number(string name, Func<double, bool> valid, string expected)
        {
            if (!o.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
            if (e.ValueKind != JsonValueKind.Number) throw new InvalidDataException($"{source}: {key}.{name} is {e.ValueKind}; expected a number.");
            double v = e.GetDouble();
            if (!double.IsFinite(v) || !valid(v))
                throw new InvalidDataException($"{source}: {key}.{name} is {v.ToString("R", CultureInfo.InvariantCulture)}; expected {expected}.");
            return v;
        }

        double factor = Number("factor", v => v >= 1, "a finite number at least 1")
                        ?? throw new InvalidDataException($"{source}: {key} has rope_type '{type}' but no factor.");
        double? original = Number("original_max_position_embeddings", v => v > 0 && v == Math.Floor(v) && v <= int.MaxValue, "a positive integer");
        int l0 = original is double d ? (int)d : maxPositions;
        if (type == "linear") return RopeScaling.Linear(factor, l0);

        bool truncate = true;
        if (o.TryGetProperty("truncate", out var tr) && tr.ValueKind != JsonValueKind.Null)
        {
            if (tr.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new InvalidDataException($"{source}: {key}.truncate is {tr.ValueKind}; expected true or false.");
            truncate = tr.GetBoolean();
        }
        double betaFast = Number("beta_fast", v => v > 0, "a finite number greater than 0") ?? 32;
        double betaSlow = Number("beta_slow", v => v > 0, "a finite number greater than 0") ?? 1;
        return RopeScaling.Yarn(factor, l0, betaFast, betaSlow,
            attentionFactor: Number("attention_factor", v => v > 0, "a finite number greater than 0"),
            mscale: Number("mscale", _ => true, "a finite number"),
            mscaleAllDim: Number("mscale_all_dim", _ => true, "a finite number"),
            truncate: truncate);
    }
}
