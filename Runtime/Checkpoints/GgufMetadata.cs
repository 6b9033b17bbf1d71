using System.Globalization;

namespace Qwen3Gen.Checkpoints;

/// <summary>GGUF metadata value types (the u32 before each value).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>
/// The key → value metadata of a GGUF file. Scalars are held as their .NET type (byte, sbyte, ushort, short, uint,
/// int, float, bool, string, ulong, long, double), arrays as .NET arrays of those (nested arrays as object[]).
/// The typed getters accept any stored type that represents the value exactly (converters differ: some write
/// u32, some i32) and otherwise throw <see cref="InvalidDataException"/> naming the file and the key.
/// </summary>
public sealed class GgufMetadata
{
    private readonly Dictionary<string, object> _values;

    internal GgufMetadata(Dictionary<string, object> values, string file)
    {
        _values = values;
        File = file;
    }

    /// <summary>The file the metadata came from (for messages).</summary>
    public string File { get; }

    public IEnumerable<string> Keys => _values.Keys;

    public int Count => _values.Count;

    public bool Contains(string key) => _values.ContainsKey(key);

    /// <summary>The raw value (see the class summary for the types).</summary>
    public bool TryGetValue(string key, out object value) => _values.TryGetValue(key, out value!);

    public object this[string key] => _values.TryGetValue(key, out var v) ? v : throw Missing(key);

    public string GetString(string key) =>
        this[key] as string ?? throw WrongType(key, "a string");

    public string? GetStringOrNull(string key) => Contains(key) ? GetString(key) : null;

    /// <summary>An integer of any stored width that fits in <c>long</c>.</summary>
    public long GetInt64(string key) =>
        TryInteger(this[key], out long v) ? v : throw WrongType(key, "an integer");

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int GetInt32(string key, int min = int.MinValue, int max = int.MaxValue)
    {
        long v = GetInt64(key);
        if (v < min || v > max) throw new InvalidDataException($"'{File}': metadata '{key}' = {v} is outside [{min}, {max}].");
        return (int)v;
    }

    public int? GetInt32OrNull(string key, int min = int.MinValue, int max = int.MaxValue) =>
        Contains(key) ? GetInt32(key, min, max) : null;

    /// <summary>A float32 or float64 value (integers are accepted too).</summary>
    public double GetDouble(string key) => this[key] switch
    {
        float f => f,
        double d => d,
        var o when TryInteger(o, out long i) => i,
        _ => throw WrongType(key, "a number"),
    };

    public bool GetBool(string key) => this[key] is bool b ? b : throw WrongType(key, "a bool");

    public bool? GetBoolOrNull(string key) => Contains(key) ? GetBool(key) : null;

    public string[] GetStringArray(string key) => this[key] as string[] ?? throw WrongType(key, "an array of strings");

    /// <summary>An array of integers of any width, each fitting in int.</summary>
    public int[] GetInt32Array(string key)
    {
        var value = this[key];
        if (value is not Array array || value is string[] || value is object[] || value is float[] || value is double[] || value is bool[])
            throw WrongType(key, "an array of integers");
        var result = new int[array.Length];
        for (int i = 0; i < result.Length; i++)
        {
            if (!TryInteger(array.GetValue(i)!, out long v) || v < int.MinValue || v > int.MaxValue)
                throw new InvalidDataException($"'{File}': metadata '{key}'[{i}] = {array.GetValue(i)} does not fit a 32-bit integer.");
            result[i] = (int)v;
        }
        return result;
    }

    /// <summary>"value" for a scalar, "array[n] of T" for an array (for listings).</summary>
    public string Describe(string key) => this[key] switch
    {
        string s => s.Length > 60 ? $"\"{s[..60]}...\" ({s.Length} chars)" : $"\"{s}\"",
        Array a => $"array[{a.Length}] of {a.GetType().GetElementType()!.Name}",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        var o => o.ToString() ?? "",
    };

    private static bool TryInteger(object value, out long result)
    {
        switch (value)
        {
            case byte b: result = b; return true;
            case sbyte sb: result = sb; return true;
            case ushort us: result = us; return true;
            case short s: result = s; return true;
            case uint ui: result = ui; return true;
            case int i: result = i; return true;
            case long l: result = l; return true;
            case ulong ul when ul <= long.MaxValue: result = (long)ul; return true;
            default: result = 0; return false;
        }
    }

    private InvalidDataException Missing(string key) => new($"'{File}': metadata key '{key}' is missing.");

    private InvalidDataException WrongType(string key, string expected) =>
        new($"'{File}': metadata '{key}' must be {expected}, found {Describe(key)}.");
}
