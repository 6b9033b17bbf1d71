// Lets records compile on netstandard2.0 (the type exists from .NET 5 on).
namespace System.Runtime.CompilerServices
{
    internal static class IsExternalInit { }
}
