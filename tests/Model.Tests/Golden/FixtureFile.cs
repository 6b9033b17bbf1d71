using System.Text.Json;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// A minimal, independent reader of the fixtures' F32/I64 safetensors (the test's own, so the golden tests do
/// not trust the runtime's reader to check the runtime). Layout: u64 header length, JSON header, data.
/// </summary>
public sealed class FixtureFile
{
    private readonly byte[] _bytes;
    private readonly Dictionary<string, (string Dtype, int[] Shape, long Begin, long End)> _tensors = new();
    private readonly long _dataStart;

    public FixtureFile(string path)
    {
        _bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(_bytes, 0);
        _dataStart = 8 + n;
        using var doc = JsonDocument.Parse(_bytes.AsMemory(8, (int)n));
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var offsets = p.Value.GetProperty("data_offsets");
            _tensors[p.Name] = (p.Value.GetProperty("dtype").GetString()!,
                p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                offsets[0].GetInt64(), offsets[1].GetInt64());
        }
    }

    public IEnumerable<string> Names => _tensors.Keys.Order(StringComparer.Ordinal);

    public bool Has(string name) => _tensors.ContainsKey(name);

    public int[] Shape(string name) => _tensors[name].Shape;

    public float[] F32(string name)
    {
        var t = _tensors[name];
        Assert.Equal("F32", t.Dtype);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(_bytes.AsSpan((int)(_dataStart + t.Begin), (int)(t.End - t.Begin))).ToArray();
    }

    public long[] I64(string name)
    {
        var t = _tensors[name];
        Assert.Equal("I64", t.Dtype);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(_bytes.AsSpan((int)(_dataStart + t.Begin), (int)(t.End - t.Begin))).ToArray();
    }

    /// <summary>The folder of a golden case, copied next to the test assembly (tests/Fixtures/golden/&lt;case&gt;).</summary>
    public static string CaseDir(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "golden", name);
}
