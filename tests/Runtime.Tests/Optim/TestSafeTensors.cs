using System.Buffers.Binary;
using System.Text.Json;

namespace Qwen3Gen.Runtime.Tests.Optim;

/// <summary>
/// A minimal safetensors reader for the tests (F32 and I64 only), independent of the runtime's own
/// reader so the optimizer tests do not depend on it. Layout: u64 header length N, N bytes of JSON,
/// then the data section; offsets in the JSON are relative to the data section.
/// </summary>
internal sealed class TestSafeTensors
{
    private readonly byte[] _bytes;
    private readonly long _dataStart;
    private readonly Dictionary<string, (string DType, int[] Shape, long Begin, long End)> _entries = new();

    public TestSafeTensors(string path)
    {
        _bytes = File.ReadAllBytes(path);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(_bytes);
        _dataStart = 8 + n;
        using var doc = JsonDocument.Parse(_bytes.AsMemory(8, (int)n));
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var offsets = p.Value.GetProperty("data_offsets");
            _entries[p.Name] = (p.Value.GetProperty("dtype").GetString()!,
                                p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                                offsets[0].GetInt64(), offsets[1].GetInt64());
        }
    }

    /// <summary>Tensor names in sorted order.</summary>
    public IEnumerable<string> Names => _entries.Keys.Order(StringComparer.Ordinal);

    public int[] Shape(string name) => _entries[name].Shape;

    public float[] F32(string name)
    {
        var e = _entries[name];
        Assert.Equal("F32", e.DType);
        var span = _bytes.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin));
        var result = new float[span.Length / 4];
        for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(4 * i)..]);
        return result;
    }

    public long[] I64(string name)
    {
        var e = _entries[name];
        Assert.Equal("I64", e.DType);
        var span = _bytes.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin));
        var result = new long[span.Length / 8];
        for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadInt64LittleEndian(span[(8 * i)..]);
        return result;
    }

    /// <summary>tests/Fixtures/golden/&lt;case&gt;, found by walking up from the test binary to the folder with Qwen3Gen.sln.</summary>
    public static string FixtureDirectory(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Qwen3Gen.sln")))
                return Path.Combine(dir.FullName, "tests", "Fixtures", "golden", name);
        throw new DirectoryNotFoundException($"No folder above {AppContext.BaseDirectory} contains Qwen3Gen.sln.");
    }
}
