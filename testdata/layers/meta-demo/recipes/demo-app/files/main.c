#include <stdio.h>

#include <demo.h>

#include "greetings.h"

int main(int argc, char **argv)
{
    char text[128];

    demo_greeting(text, sizeof text, argc > 1 ? argv[1] : world);
    printf("%s %s\n", text, signature);
    return 0;
}
