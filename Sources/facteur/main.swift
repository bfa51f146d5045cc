print("facteur")
