namespace Qwen3Gen.Model.Tests;

/// <summary>A fresh folder under the system temp path, deleted on Dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string name = "snapshot")
    {
        Root = Path.Combine(Path.GetTempPath(), "qwen3gen-tests", Guid.NewGuid().ToString("N"));
        Dir = System.IO.Path.Combine(Root, name);
        Directory.CreateDirectory(Dir);
    }

    private string Root { get; }

    /// <summary>The folder (its last component is the name given, e.g. "Qwen3-Custom").</summary>
    public string Dir { get; }

    public string this[string file] => System.IO.Path.Combine(Dir, file);

    /// <summary>A copy of every file of <paramref name="source"/> (flat: snapshots have no sub-folders).</summary>
    public static TempDirectory CopyOf(string source, string name = "snapshot")
    {
        var copy = new TempDirectory(name);
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, copy[System.IO.Path.GetFileName(file)]);
        return copy;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
