using System.Text.Json;

namespace Qwen3Gen.Sample.Serving;

/// <summary>
/// Typed reads of a request body's fields: each one either returns the value or throws a 400
/// <see cref="ApiException"/> that names the field (its JSON path) and says what was expected.
/// Absent and null fields read as null (the default applies).
/// </summary>
internal readonly struct RequestReader(JsonElement obj, string path)
{
    public JsonElement Element => obj;

    public static RequestReader Root(JsonElement root) => root.ValueKind == JsonValueKind.Object ? new(root, "")
        : throw ApiException.Invalid("body", $"The request body must be a JSON object, got {Kind(root)}.");

    public string Name(string field) => path.Length == 0 ? field : $"{path}.{field}";

    public bool Has(string field) => obj.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Get(string field) => obj.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public string? String(string field) => Get(field) is { } v
        ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Expected(field, "a string", v)
        : null;

    public bool? Bool(string field) => Get(field) is { } v
        ? v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Expected(field, "true or false", v)
        : null;

    public long? Integer(string field, long min, long max)
    {
        if (Get(field) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x))
        {
            // 3.0 is an integer too (some clients send whole floats)
            if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) x = (long)d;
            else throw Expected(field, "an integer", v);
        }
        if (x < min || x > max) throw ApiException.Invalid(Name(field), $"'{Name(field)}' is {x}; it must be in [{min}, {max}].");
        return x;
    }

    public float? Number(string field, double min, double max, bool minExclusive = false)
    {
        if (Get(field) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x) || !double.IsFinite(x)) throw Expected(field, "a number", v);
        if (x < min || x > max || (minExclusive && x == min))
            throw ApiException.Invalid(Name(field), $"'{Name(field)}' is {x}; it must be in {(minExclusive ? "(" : "[")}{min}, {max}].");
        return (float)x;
    }

    public RequestReader? Object(string field) => Get(field) is { } v
        ? v.ValueKind == JsonValueKind.Object ? new RequestReader(v, Name(field)) : throw Expected(field, "an object", v)
        : null;

    public JsonElement? Array(string field) => Get(field) is { } v
        ? v.ValueKind == JsonValueKind.Array ? v : throw Expected(field, "an array", v)
        : null;

    public ApiException Expected(string field, string what, JsonElement got) =>
        ApiException.Invalid(Name(field), $"'{Name(field)}' must be {what}, got {Kind(got)}.");

    public static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
