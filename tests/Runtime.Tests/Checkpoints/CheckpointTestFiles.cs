using System.Buffers.Binary;
using System.Text;

namespace Qwen3Gen.Runtime.Tests.Checkpoints;

/// <summary>A fresh temporary folder per test, deleted afterwards.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "qwen3gen-st-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Hand-built safetensors bytes, so damaged files can be made without the writer under test.</summary>
internal static class RawSafeTensors
{
    /// <summary>u64 LE length of <paramref name="json"/> (or <paramref name="declaredLength"/>), the JSON, then <paramref name="data"/>.</summary>
    public static byte[] Build(string json, byte[] data, ulong? declaredLength = null)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    public static byte[] Build(string json, int dataBytes) => Build(json, new byte[dataBytes]);

    /// <summary>Reads the u64 header length and returns where the data section starts.</summary>
    public static long DataStart(byte[] file) => 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
}

/// <summary>The repository root (the folder holding Qwen3Gen.sln), for committed fixtures.</summary>
internal static class RepoPaths
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "Qwen3Gen.sln"))) return dir.FullName;
            throw new InvalidOperationException($"Qwen3Gen.sln not found above {AppContext.BaseDirectory}.");
        }
    }

    public static string Fixture(params string[] parts) =>
        System.IO.Path.Combine([Root, "tests", "Fixtures", .. parts]);
}
