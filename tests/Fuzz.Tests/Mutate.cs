using System.Text;
using System.Text.Json.Nodes;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>
/// Ways to damage an input: byte-level (bit flips, interesting bytes, inserts, deletes, truncation, splices of
/// tokens that break parsers) and JSON-aware (a value replaced by a value of another kind, a member removed or
/// written twice). Everything draws from the case's <see cref="Random"/>, so a case replays exactly.
/// </summary>
public static class Mutate
{
    /// <summary>Fragments that have broken JSON readers before: lone surrogates, huge and odd numbers, duplicates.</summary>
    public static readonly string[] Tokens =
    [
        "\"\\udc00\"", "\"\\ud800x\"", "1e400", "-1", "0", "-0", "2147483647", "2147483648", "-2147483649", "9223372036854775808",
        "18446744073709551616", "1.5", "NaN", "null", "true", "false", "[]", "{}", "\"\"", "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
        "\"F32\"", "\"BF16\"", "\"I64\"", "\"dtype\": \"F32\", ", "\"qwen3\"", "\"qwen3_moe\"", "\"no\"", "\"false\"", "1",
        "\"\\u0000\"", "\"é\"", "\"<|im_end|>\"",
    ];

    private static readonly byte[] Interesting = [0, 0xFF, 0x7F, 0x80, 0xC0, 0xED, (byte)'"', (byte)'\\', (byte)'{', (byte)'}',
                                                  (byte)'[', (byte)']', (byte)',', (byte)':', (byte)'-', (byte)'9', (byte)' ', (byte)'\n'];

    /// <summary>One to three byte-level mutations of <paramref name="input"/>.</summary>
    public static byte[] Bytes(Random r, byte[] input)
    {
        var b = new List<byte>(input);
        int rounds = r.Next(1, 4);
        for (int k = 0; k < rounds; k++)
        {
            int at = b.Count == 0 ? 0 : r.Next(b.Count);
            switch (r.Next(7))
            {
                case 0 when b.Count > 0: b[at] ^= (byte)(1 << r.Next(8)); break;
                case 1 when b.Count > 0: b[at] = Interesting[r.Next(Interesting.Length)]; break;
                case 2: b.InsertRange(at, Enumerable.Range(0, r.Next(1, 9)).Select(_ => (byte)r.Next(256))); break;
                case 3 when b.Count > 0: b.RemoveRange(at, Math.Min(b.Count - at, r.Next(1, 17))); break;
                case 4: b.RemoveRange(at, b.Count - at); break;                                         // truncate
                case 5: b.InsertRange(at, Encoding.UTF8.GetBytes(Tokens[r.Next(Tokens.Length)])); break;
                default:
                    if (b.Count > 0)
                    {
                        int len = Math.Min(b.Count - at, r.Next(1, 33));
                        b.InsertRange(r.Next(b.Count), b.GetRange(at, len));                             // duplicate a range
                    }
                    break;
            }
        }
        return b.ToArray();
    }

    /// <summary>A JSON-aware mutation of <paramref name="json"/> (an object), written out as text.</summary>
    public static string Json(Random r, string json)
    {
        try { return JsonCore(r, json); }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException)
        {
            // Already damaged beyond what JsonNode handles (a member twice, a lone surrogate): damage the text further.
            return Encoding.UTF8.GetString(Bytes(r, Encoding.UTF8.GetBytes(json)));
        }
    }

    private static string JsonCore(Random r, string json)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var containers = new List<JsonNode>();
        Collect(root, containers);
        var target = containers[r.Next(containers.Count)];
        switch (r.Next(4))
        {
            case 0 when target is JsonObject o && o.Count > 0:                                          // remove a member
                o.Remove(o.ElementAt(r.Next(o.Count)).Key);
                break;
            case 1 when target is JsonArray a && a.Count > 0:
                a[r.Next(a.Count)] = Value(r);
                break;
            case 2 when target is JsonObject o && o.Count > 0:                                          // a member written twice
            {
                string text = root.ToJsonString();
                var member = o.ElementAt(r.Next(o.Count));
                string key = System.Text.Json.JsonSerializer.Serialize(member.Key);
                int at = text.IndexOf(key + ":", StringComparison.Ordinal);
                if (at >= 0) return text.Insert(at, key + ":" + RawValue(r) + ",");
                break;
            }
            default:
                if (target is JsonObject obj && obj.Count > 0) obj[obj.ElementAt(r.Next(obj.Count)).Key] = Value(r);
                else if (target is JsonArray arr) arr.Add(Value(r));
                break;
        }
        string result = root.ToJsonString();
        // Some values (lone surrogates, 1e400) exist only as text: splice them in where a value was.
        if (r.Next(4) == 0)
        {
            int colon = result.IndexOf(':', r.Next(result.Length));
            if (colon >= 0)
            {
                int end = colon + 1;
                while (end < result.Length && result[end] is not (',' or '}' or ']')) end++;
                if (result[colon + 1] is not ('{' or '[')) result = result[..(colon + 1)] + RawValue(r) + result[end..];
            }
        }
        return result;
    }

    private static void Collect(JsonNode node, List<JsonNode> into)
    {
        into.Add(node);
        if (node is JsonObject o) foreach (var (_, v) in o) { if (v is JsonObject or JsonArray) Collect(v, into); }
        if (node is JsonArray a) foreach (var v in a) { if (v is JsonObject or JsonArray) Collect(v!, into); }
    }

    private static string RawValue(Random r) => Tokens[r.Next(Tokens.Length)];

    /// <summary>A random JSON value of any kind.</summary>
    public static JsonNode? Value(Random r) => r.Next(9) switch
    {
        0 => null,
        1 => JsonValue.Create(r.Next(2) == 0),
        2 => JsonValue.Create(r.Next(-3, 70)),
        3 => JsonValue.Create(r.NextInt64(long.MinValue, long.MaxValue)),
        4 => JsonValue.Create(r.NextDouble() * 10 - 5),
        5 => JsonValue.Create(new[] { "", "no", "false", "true", "silu", "default", "yarn", "F32", "x" }[r.Next(9)]),
        6 => new JsonArray(JsonValue.Create(r.Next(-2, 5)), JsonValue.Create("a")),
        7 => new JsonObject { ["rope_type"] = "linear", ["factor"] = 2.0 },
        _ => JsonValue.Create(int.MaxValue - r.Next(3)),
    };
}
