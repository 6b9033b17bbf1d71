using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// JSON written as transformers' chat-template <c>tojson</c> writes it: Python's
/// <c>json.dumps(x, ensure_ascii=False)</c>, i.e. separators ", " and ": ", keys in their given
/// order, non-ASCII raw, only " \ and control characters escaped, floats as Python's repr.
/// </summary>
public static class PythonJson
{
    public static string Dumps(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(sb, node);
        return sb.ToString();
    }

    static void Write(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                return;
            case JsonObject obj:
            {
                sb.Append('{');
                bool first = true;
                foreach (var (key, value) in obj)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    WriteString(sb, key);
                    sb.Append(": ");
                    Write(sb, value);
                }
                sb.Append('}');
                return;
            }
            case JsonArray arr:
            {
                sb.Append('[');
                for (int i = 0; i < arr.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Write(sb, arr[i]);
                }
                sb.Append(']');
                return;
            }
            default:
                WriteValue(sb, node.AsValue());
                return;
        }
    }

    static void WriteValue(StringBuilder sb, JsonValue value)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String: WriteString(sb, value.GetValue<string>()); return;
            case JsonValueKind.True: sb.Append("true"); return;
            case JsonValueKind.False: sb.Append("false"); return;
            case JsonValueKind.Null: sb.Append("null"); return;
            case JsonValueKind.Number:
            {
                string raw = value.ToJsonString();
                if (raw.AsSpan().IndexOfAny(".eE") < 0)
                    sb.Append(BigInteger.Parse(raw, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));   // Python int
                else
                    sb.Append(FloatRepr(double.Parse(raw, CultureInfo.InvariantCulture)));
                return;
            }
            default: throw new NotSupportedException($"Cannot write JSON value of kind {value.GetValueKind()}.");
        }
    }

    /// <summary>A JSON string literal as json.dumps(ensure_ascii=False) writes it.</summary>
    public static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>Python's repr of a float: shortest round-trip digits, exponent form when the decimal
    /// exponent is below -4 or above 16, else fixed with at least one decimal ("2.0").</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "NaN";
        if (double.IsInfinity(d)) return d > 0 ? "Infinity" : "-Infinity";
        string sign = d < 0 || (d == 0 && double.IsNegative(d)) ? "-" : "";
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int exp10 = 0, e = r.IndexOfAny(['E', 'e']);
        if (e >= 0) { exp10 = int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture); r = r[..e]; }
        int dot = r.IndexOf('.');
        string intPart = dot < 0 ? r : r[..dot], frac = dot < 0 ? "" : r[(dot + 1)..];
        string all = intPart + frac;
        int zeros = 0;
        while (zeros < all.Length && all[zeros] == '0') zeros++;
        string digits = all[zeros..].TrimEnd('0');
        if (digits.Length == 0) return sign + "0.0";
        int decpt = intPart.Length - zeros + exp10;                 // value = 0.digits * 10^decpt
        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0) return sign + "0." + new string('0', -decpt) + digits;
            if (decpt >= digits.Length) return sign + digits + new string('0', decpt - digits.Length) + ".0";
            return sign + digits[..decpt] + "." + digits[decpt..];
        }
        int x = decpt - 1;
        string mant = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
        return sign + mant + "e" + (x < 0 ? "-" : "+") + Math.Abs(x).ToString("00", CultureInfo.InvariantCulture);
    }
}
